// Which AgentEnclaves name which task-token JWKS ConfigMaps (spec.taskTokenIssuers[].jwksConfigMap),
// so that a change to one of those ConfigMaps enqueues exactly the identities whose compiled policy
// embeds its keys. Kept up to date from enclave events; pure bookkeeping, no API calls.
import type { AgentEnclave } from "../../api/v1alpha1/index.ts";

type EnclaveRef = Pick<AgentEnclave, "metadata"> & {
  spec?: { taskTokenIssuers?: readonly { jwksConfigMap: string }[] };
};

export class JwksIndex {
  /** "namespace/configMap" → names of the enclaves (in that namespace) that reference it. */
  private readonly byConfigMap = new Map<string, Set<string>>();
  /** "namespace/enclave" → the ConfigMap keys it was last indexed under. */
  private readonly byEnclave = new Map<string, string[]>();

  /** Indexes (or re-indexes) an enclave after an add or update. */
  set(enclave: EnclaveRef): void {
    this.remove(enclave);
    const ns = enclave.metadata.namespace ?? "";
    const name = enclave.metadata.name ?? "";
    const keys = [...new Set((enclave.spec?.taskTokenIssuers ?? []).map((t) => `${ns}/${t.jwksConfigMap}`))];
    if (keys.length === 0) return;
    this.byEnclave.set(`${ns}/${name}`, keys);
    for (const k of keys) {
      let set = this.byConfigMap.get(k);
      if (!set) {
        set = new Set();
        this.byConfigMap.set(k, set);
      }
      set.add(name);
    }
  }

  remove(enclave: EnclaveRef): void {
    const ns = enclave.metadata.namespace ?? "";
    const name = enclave.metadata.name ?? "";
    for (const k of this.byEnclave.get(`${ns}/${name}`) ?? []) {
      const set = this.byConfigMap.get(k);
      set?.delete(name);
      if (set?.size === 0) this.byConfigMap.delete(k);
    }
    this.byEnclave.delete(`${ns}/${name}`);
  }

  /** Every "namespace/configMap" some enclave names: the ConfigMaps to watch. */
  keys(): string[] {
    return [...this.byConfigMap.keys()];
  }

  /** Names of the enclaves in `namespace` whose task-token issuers read ConfigMap `name`. */
  enclavesOf(namespace: string, name: string): string[] {
    return [...(this.byConfigMap.get(`${namespace}/${name}`) ?? [])].sort();
  }
}
