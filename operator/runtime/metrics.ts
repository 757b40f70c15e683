// The operator's Prometheus metrics. Labels are bounded sets (kind, verb, code, reason): never an
// agent, namespace or object name — at 5,000 agents a per-agent label made one scrape ~2.8 MB.
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface OperatorMetrics {
  registry: Registry;
  reconcileTotal: Counter<"kind" | "result">;
  reconcileErrors: Counter<"kind">;
  reconcileDuration: Histogram<"kind">;
  queueDepth: Gauge<"kind">;
  leader: Gauge;
  apiRequests: Counter<"verb" | "code">;
  apiRateLimiterWait: Histogram;
  informerRestarts: Counter<"resource">;
  writesSkipped: Counter<"resource">;
}

export function createMetrics(registry: Registry = new Registry()): OperatorMetrics {
  return {
    registry,
    reconcileTotal: new Counter({
      name: "warden_operator_reconcile_total",
      help: "Reconciles run, by kind and result (success, requeue, error).",
      labelNames: ["kind", "result"],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: "warden_operator_reconcile_errors_total",
      help: "Reconciles that failed and were retried with backoff, by kind.",
      labelNames: ["kind"],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: "warden_operator_reconcile_duration_seconds",
      help: "Time spent in one reconcile, by kind.",
      labelNames: ["kind"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "warden_operator_queue_depth",
      help: "Keys waiting in the work queue, by kind.",
      labelNames: ["kind"],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "warden_operator_leader",
      help: "1 while this replica holds the leader Lease and runs the controllers, else 0.",
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: "warden_operator_api_requests_total",
      help: "Requests to the Kubernetes API (watches excluded), by HTTP verb and status code.",
      labelNames: ["verb", "code"],
      registers: [registry],
    }),
    apiRateLimiterWait: new Histogram({
      name: "warden_operator_api_rate_limiter_wait_seconds",
      help: "Time API requests waited for the client-side rate limiter.",
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: "warden_operator_informer_restarts_total",
      help: "Informer restarts after a list/watch error, by resource.",
      labelNames: ["resource"],
      registers: [registry],
    }),
    writesSkipped: new Counter({
      name: "warden_operator_writes_skipped_total",
      help: "Applies skipped because the cached object already matched, by resource.",
      labelNames: ["resource"],
      registers: [registry],
    }),
  };
}
