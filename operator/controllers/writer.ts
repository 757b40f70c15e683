// Every write the controllers make: server-side apply with our field manager (force where we own
// the fields), the status subresource, deletes and (best-effort) events. One place, so the write count is easy
// to reason about and to measure.
import * as k8s from "@kubernetes/client-node";
import { FIELD_MANAGER, GROUP, VERSION } from "../../api/v1alpha1/index.ts";
import type { Logger } from "../../lib/log.ts";
import { type ClientFactory, SSA, statusOf } from "../runtime/client.ts";
import { eventRecorder } from "../runtime/events.ts";
import type { NetworkPolicy } from "./netpol.ts";

export interface Writer {
  applyServiceAccount(sa: k8s.V1ServiceAccount): Promise<void>;
  /**
   * Creates the ServiceAccount unless one of that name exists; returns the existing one (read
   * after the 409), or undefined when it was created. Never takes over someone else's account.
   */
  createServiceAccount(sa: k8s.V1ServiceAccount): Promise<k8s.V1ServiceAccount | undefined>;
  applyConfigMap(cm: k8s.V1ConfigMap): Promise<void>;
  applySecret(secret: k8s.V1Secret): Promise<void>;
  deleteSecret(namespace: string, name: string): Promise<void>;
  applyNetworkPolicy(np: NetworkPolicy): Promise<void>;
  deleteNetworkPolicy(namespace: string, name: string): Promise<void>;
  applyNamespace(ns: k8s.V1Namespace): Promise<void>;
  applyRoleBinding(rb: k8s.V1RoleBinding): Promise<void>;
  applyStatus(plural: string, namespace: string, name: string, kind: string, status: unknown): Promise<void>;
  event(
    obj: { kind: string; name: string; namespace: string; uid?: string },
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void>;
}

export function createWriter(clients: ClientFactory, log: Logger): Writer {
  const core = clients.make(k8s.CoreV1Api);
  const net = clients.make(k8s.NetworkingV1Api);
  const rbac = clients.make(k8s.RbacAuthorizationV1Api);
  const custom = clients.make(k8s.CustomObjectsApi);
  const recordEvent = eventRecorder(core, log);
  const fm = { fieldManager: FIELD_MANAGER, force: true };
  const nameOf = (o: k8s.KubernetesObject) => ({
    name: o.metadata?.name ?? "",
    namespace: o.metadata?.namespace ?? "",
  });
  return {
    async applyServiceAccount(sa) {
      await core.patchNamespacedServiceAccount({ ...nameOf(sa), body: sa, ...fm }, SSA);
    },
    async createServiceAccount(sa) {
      try {
        await core.createNamespacedServiceAccount({
          namespace: sa.metadata?.namespace ?? "",
          body: sa,
          fieldManager: FIELD_MANAGER,
        });
        return undefined;
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
        return await core.readNamespacedServiceAccount(nameOf(sa));
      }
    },
    async applyConfigMap(cm) {
      await core.patchNamespacedConfigMap({ ...nameOf(cm), body: cm, ...fm }, SSA);
    },
    async applySecret(secret) {
      await core.patchNamespacedSecret({ ...nameOf(secret), body: secret, ...fm }, SSA);
    },
    async deleteSecret(namespace, name) {
      try {
        await core.deleteNamespacedSecret({ name, namespace });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    },
    async applyNetworkPolicy(np) {
      await net.patchNamespacedNetworkPolicy(
        { name: np.metadata.name, namespace: np.metadata.namespace, body: np, ...fm },
        SSA,
      );
    },
    async deleteNetworkPolicy(namespace, name) {
      try {
        await net.deleteNamespacedNetworkPolicy({ name, namespace });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    },
    async applyNamespace(ns) {
      await core.patchNamespace({ name: ns.metadata?.name ?? "", body: ns, ...fm }, SSA);
    },
    async applyRoleBinding(rb) {
      await rbac.patchNamespacedRoleBinding({ ...nameOf(rb), body: rb, ...fm }, SSA);
    },
    async applyStatus(plural, namespace, name, kind, status) {
      await custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural,
          namespace,
          name,
          body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name, namespace }, status },
          ...fm,
        },
        SSA,
      );
    },
    event(obj, type, reason, message) {
      return recordEvent({ apiVersion: `${GROUP}/${VERSION}`, ...obj }, type, reason, message);
    },
  };
}

export function ownerRef(o: {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; uid?: string };
}): k8s.V1OwnerReference {
  return {
    apiVersion: o.apiVersion ?? `${GROUP}/${VERSION}`,
    kind: o.kind ?? "",
    name: o.metadata.name ?? "",
    uid: o.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * Reads Secrets by name. The operator may not list or watch Secrets, so there is no cache: only
 * the Secrets a ToolManifest names (and the credentials Secrets the operator writes) are read.
 */
export interface SecretReader {
  get(namespace: string, name: string): Promise<k8s.V1Secret | undefined>;
}

export function createSecretReader(clients: ClientFactory): SecretReader {
  const core = clients.make(k8s.CoreV1Api);
  return {
    async get(namespace, name) {
      try {
        return await core.readNamespacedSecret({ name, namespace });
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
  };
}
