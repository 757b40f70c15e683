// What the operator integration tests share lives in test/support/operator-process.ts (the demo
// uses it too); re-exported here so the tests keep one import. The testbed below needs the
// vitest-provided cluster, so it lives here rather than there.
import { inject } from "vitest";
import { createNamespace, kubeconfigPath, uniqueName } from "../support/kube.ts";
import {
  installOperatorRBAC,
  type OperatorRBAC,
  type RunningOperator,
  startOperator,
} from "../support/operator-process.ts";

export * from "../support/operator-process.ts";

export interface OperatorTestbed {
  /** The operator's namespace, its ServiceAccount kubeconfig and the enclave ClusterRole. */
  rbac: OperatorRBAC;
  /** The enclave namespace the operator watches (and only it: other tests share the cluster). */
  namespace: string;
  /** Starts one operator replica with the shipped RBAC, watching `namespace`. */
  start(instance: string, args: string[]): RunningOperator;
}

/**
 * An operator namespace with the shipped RBAC installed (unique cluster-scoped names) and an
 * enclave namespace named after `enclavePrefix`. Cleanups are pushed as each piece exists, so a
 * failure half-way still leaves nothing behind.
 */
export async function operatorTestbed(
  enclavePrefix: string,
  cleanups: (() => Promise<void>)[],
): Promise<OperatorTestbed> {
  const opNs = await createNamespace("warden-op");
  const enc = await createNamespace(enclavePrefix);
  cleanups.push(opNs.cleanup, enc.cleanup);
  const rbac = await installOperatorRBAC(
    kubeconfigPath(),
    inject("kubectl"),
    opNs.name,
    uniqueName("t").slice(2),
  );
  cleanups.push(rbac.cleanup);
  return {
    rbac,
    namespace: enc.name,
    start: (instance, args) =>
      startOperator({
        kubeconfig: rbac.kubeconfig,
        namespace: rbac.namespace,
        enclaveClusterRole: rbac.enclaveClusterRole,
        watchNamespaces: [enc.name],
        instance,
        args,
      }),
  };
}
