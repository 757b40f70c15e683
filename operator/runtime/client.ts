// API clients whose every request goes through the client-side rate limiter and is counted by
// verb and code. client-node 2.x builds each request through a Configuration; we supply our own
// HTTP library (a wrapper of its fetch library) so that the limiter sees every call made with these
// clients — including informers' LIST calls, which use them too.
import * as k8s from "@kubernetes/client-node";
import type { TokenBucket } from "../../lib/token-bucket.ts";
import type { OperatorMetrics } from "./metrics.ts";

type ApiConstructor<T> = new (config: k8s.Configuration) => T;

class RateLimitedHttpLibrary implements k8s.HttpLibrary {
  private readonly inner = new k8s.IsomorphicFetchHttpLibrary();
  private readonly limiter: TokenBucket;
  private readonly metrics: OperatorMetrics | undefined;
  constructor(limiter: TokenBucket, metrics: OperatorMetrics | undefined) {
    this.limiter = limiter;
    this.metrics = metrics;
  }

  send(request: k8s.RequestContext): k8s.Observable<k8s.ResponseContext> {
    return new k8s.Observable(this.sendAsync(request));
  }

  private async sendAsync(request: k8s.RequestContext): Promise<k8s.ResponseContext> {
    const started = performance.now();
    await this.limiter.take();
    this.metrics?.apiRateLimiterWait.observe((performance.now() - started) / 1000);
    const verb = request.getHttpMethod().toString();
    try {
      const response = await this.inner.send(request).toPromise();
      this.metrics?.apiRequests.inc({ verb, code: String(response.httpStatusCode) });
      return response;
    } catch (err) {
      this.metrics?.apiRequests.inc({ verb, code: "error" });
      throw err;
    }
  }
}

export interface ClientFactory {
  make<T>(api: ApiConstructor<T>): T;
}

export function rateLimitedClients(
  kc: k8s.KubeConfig,
  limiter: TokenBucket,
  metrics?: OperatorMetrics,
): ClientFactory {
  const httpApi = new RateLimitedHttpLibrary(limiter, metrics);
  return {
    make<T>(api: ApiConstructor<T>): T {
      const cluster = kc.getCurrentCluster();
      if (!cluster)
        throw new Error("the kubeconfig has no current cluster; pass --kubeconfig or run in a pod");
      const config = k8s.createConfiguration({
        baseServer: new k8s.ServerConfiguration(cluster.server, {}),
        authMethods: { default: kc },
        httpApi,
      });
      return new api(config);
    },
  };
}

/** Per-call options for server-side apply (Content-Type), keeping the configured middleware. */
export const SSA = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply);
/** Per-call options for a JSON merge patch. */
export const MERGE_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/** HTTP status of a client-node ApiException (or undefined for network errors). */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}
