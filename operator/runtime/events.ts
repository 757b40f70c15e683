// Kubernetes Events written by the operator (controllers and identity lifecycle). Best effort:
// an Event that cannot be written is logged, never fatal, so a lost one must not fail or retry a
// reconcile or an identity step.
import type * as k8s from "@kubernetes/client-node";
import { FIELD_MANAGER } from "../../api/v1alpha1/index.ts";
import type { Logger } from "../../lib/log.ts";

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export type EventRecorder = (
  obj: InvolvedObject,
  type: "Normal" | "Warning",
  reason: string,
  message: string,
) => Promise<void>;

export function eventRecorder(
  core: k8s.CoreV1Api,
  log: Logger,
  component: string = FIELD_MANAGER,
): EventRecorder {
  return async (obj, type, reason, message) => {
    const now = new Date();
    try {
      await core.createNamespacedEvent({
        namespace: obj.namespace,
        body: {
          metadata: { generateName: `${obj.name}.`, namespace: obj.namespace },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.name,
            namespace: obj.namespace,
            uid: obj.uid,
          },
          type,
          reason,
          message,
          source: { component },
          reportingComponent: component,
          reportingInstance: process.env.HOSTNAME ?? "local",
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      log.warn("could not record event", { reason, object: `${obj.kind}/${obj.namespace}/${obj.name}`, err });
    }
  };
}
