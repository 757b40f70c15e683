// Webhook metrics. Labels are bounded sets (endpoint, operation, result, rule id); never an agent,
// namespace or object name — those belong in logs (DESIGN.md §4, metrics cardinality).
import { Counter, Histogram, type Registry } from "prom-client";

export interface WebhookMetrics {
  reviews: Counter<"endpoint" | "operation" | "result">;
  violations: Counter<"rule">;
  duration: Histogram<"endpoint">;
  certRotations: Counter<"what">;
}

export function webhookMetrics(registry: Registry): WebhookMetrics {
  return {
    reviews: new Counter({
      name: "warden_webhook_reviews_total",
      help: "AdmissionReviews answered, by endpoint, operation and result (allowed, denied, patched, error).",
      labelNames: ["endpoint", "operation", "result"],
      registers: [registry],
    }),
    violations: new Counter({
      name: "warden_webhook_rule_violations_total",
      help: "Rule violations found in denied reviews, by rule id.",
      labelNames: ["rule"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "warden_webhook_review_duration_seconds",
      help: "Time to answer one AdmissionReview.",
      labelNames: ["endpoint"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    certRotations: new Counter({
      name: "warden_webhook_certificate_rotations_total",
      help: "Serving certificate (what=serving) and CA (what=ca) rotations.",
      labelNames: ["what"],
      registers: [registry],
    }),
  };
}
