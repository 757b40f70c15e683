// Kubernetes client setup shared by the operator, the webhook and the CLI.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { ValidationError } from "./errors.ts";

/**
 * KUBECONFIG (or ~/.kube/config) when present, else the in-cluster ServiceAccount. With neither,
 * a ValidationError that says so: client-node would otherwise fall back to http://localhost:8080 and
 * fail later with an unrelated TLS message ("HTTP protocol is not allowed ...").
 */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const env = process.env;
  const kc = new k8s.KubeConfig();
  if (path) {
    kc.loadFromFile(path);
    return kc;
  }
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST);
  if (!env.KUBECONFIG && !inCluster && !existsSync(join(env.HOME || homedir(), ".kube", "config"))) {
    throw new ValidationError("Kubernetes API connection", [
      {
        path: "KUBECONFIG",
        message:
          "no kubeconfig (KUBECONFIG unset, no ~/.kube/config) and not in a pod (KUBERNETES_SERVICE_HOST unset): set KUBECONFIG or --kubeconfig, or run in a cluster",
      },
    ]);
  }
  kc.loadFromDefault();
  return kc;
}
