// Kubernetes client setup shared by the operator, the webhook and the CLI.
import * as k8s from "@kubernetes/client-node";

/** KUBECONFIG (or ~/.kube/config) when present, else the in-cluster ServiceAccount. */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
