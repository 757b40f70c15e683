// What the product e2e tests share, bound to the node the e2e global setup provides. The
// implementation is test/support/warden-node.ts, the same one `npm run demo` drives its node with.

import { providedNode } from "../support/node.ts";
import type { CommandResult } from "../support/process.ts";
import { type PodInfo, type ProductImages, wardenOn } from "../support/warden-node.ts";

export {
  CHART,
  nodeChartValues,
  type PodInfo,
  type ProductImages,
  waitFor,
  writeValues,
} from "../support/warden-node.ts";

const on = () => wardenOn(providedNode());

/** `npm run images` (operator, webhook, gateway) plus the e2e tools image, imported into the node. */
export const productImages = (log: (line: string) => void): Promise<ProductImages> => on().productImages(log);

/** The API server's address as pods see it after the kubernetes Service's DNAT. */
export const apiServerEndpoint = (): Promise<{ ip: string; port: number }> => on().apiServerEndpoint();

/** Helm 3 against the node's API server, with a cache of its own. */
export const helm = (args: string[], timeoutMs?: number): Promise<CommandResult> =>
  on().helm(args, timeoutMs);

export const mustHelm = (args: string[], timeoutMs?: number): Promise<string> =>
  on().mustHelm(args, timeoutMs);

/** `helm install` of the chart with a values file, waiting for Ready. */
export const helmInstall = (release: string, namespace: string, valuesFile: string): Promise<string> =>
  on().helmInstall(release, namespace, valuesFile);
export const helmUpgrade = (release: string, namespace: string, args: string[]): Promise<string> =>
  on().helmUpgrade(release, namespace, args);

export const apply = (...docs: unknown[]): Promise<void> => on().apply(...docs);

export const getJson = <T = Record<string, unknown>>(args: string[]): Promise<T> => on().getJson<T>(args);

/** `kubectl exec` into one container; the e2e tools print one JSON line, returned parsed. */
export const execJson = <T = Record<string, unknown>>(
  ns: string,
  pod: string,
  container: string,
  argv: string[],
  timeoutMs?: number,
): Promise<T> => on().execJson<T>(ns, pod, container, argv, timeoutMs);

/** The one pod of a Deployment (by its selector labels), once it exists and is Ready. */
export const readyPod = (ns: string, selector: string, timeoutMs?: number): Promise<PodInfo> =>
  on().readyPod(ns, selector, timeoutMs);

/** `kubectl port-forward` to a pod's port: the local port once forwarding, and stop(). */
export const portForward = (ns: string, pod: string, port: number) => on().portForward(ns, pod, port);

/** The audit log in the sidecar's volume of `pod`. */
export const readAuditLog = (ns: string, pod: string): Promise<CommandResult> => on().readAuditLog(ns, pod);

/** The trust bundle (PEM) the operator publishes into `ns`. */
export const trustBundle = (ns: string): Promise<string> => on().trustBundle(ns);

/** What of a credential the agent container could read (its credential file path and environment). */
export const whatTheAgentSees = (ns: string, pod: string, manifest: string): Promise<CommandResult> =>
  on().whatTheAgentSees(ns, pod, manifest);
