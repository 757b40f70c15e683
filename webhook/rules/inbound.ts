// Tool servers sit behind the gateway's inbound mode (docs/security-model.md, "sidecar bypass"):
// the only way in is mTLS from a gateway SVID. A tool-server pod in an enclave must therefore run
// the inbound gateway exactly as the injector wrote it, pointed at the tool server's own port.
import { ANNOTATION_GATEWAY_STATUS, LABEL_TOOL_SERVER } from "../../api/v1alpha1/labels.ts";
import { GATEWAY_CONTAINER_NAME, GATEWAY_INBOUND_PORT } from "../../api/v1alpha1/sidecar.ts";
import { ANNOTATION_TOOL_SERVER_PORT, toolServerUpstreamPort } from "../inject.ts";
import {
  canonicalJSON,
  containerHash,
  GATEWAY_PORTS,
  gatewayInboundVolumes,
  parseGatewayStatus,
} from "../sidecar-template.ts";
import { findGateway } from "./gateway.ts";
import { keyPath } from "./podspec.ts";
import type { Rule, Violation } from "./types.ts";

const RULE = "gateway.inboundPresent";

export const gatewayInboundPresent: Rule = (pod, ctx) => {
  // Workload templates get the sidecar when each pod is created; the pod is checked then.
  const server = pod.metadata.labels?.[LABEL_TOOL_SERVER];
  if (pod.template || !server) return [];
  const annotations = pod.metadata.annotations;
  const annPath = (key: string) => keyPath(`${pod.metaPath}.annotations`, key);
  const v = (path: string, message: string, fix: string): Violation => ({ rule: RULE, path, message, fix });
  const port = toolServerUpstreamPort(annotations, server, {
    toolServerPort: (name) => ctx.toolManifests.get(name)?.spec.server.port,
  });
  const portFix = `annotate the pod ${ANNOTATION_TOOL_SERVER_PORT}: "<port>" (the tool server's MCP port) or create ToolManifest ${server} with spec.server.port, then recreate the pod`;
  if (annotations?.[ANNOTATION_TOOL_SERVER_PORT] !== undefined && port === undefined) {
    return [
      v(
        annPath(ANNOTATION_TOOL_SERVER_PORT),
        `${ANNOTATION_TOOL_SERVER_PORT} must be a port number from 1 to 65535, got "${annotations[ANNOTATION_TOOL_SERVER_PORT]}"`,
        portFix,
      ),
    ];
  }
  if (port !== undefined && GATEWAY_PORTS.includes(port)) {
    return [
      v(
        annotations?.[ANNOTATION_TOOL_SERVER_PORT] !== undefined
          ? annPath(ANNOTATION_TOOL_SERVER_PORT)
          : `${pod.metaPath}.labels`,
        `the tool server's port ${port} is reserved for the gateway (${GATEWAY_PORTS.join(", ")}): the inbound gateway cannot forward to it`,
        "let the tool server listen on another port and name that port in the annotation or in the ToolManifest's spec.server.port",
      ),
    ];
  }
  const ref = findGateway(pod.spec, pod.specPath);
  if (!ref) {
    return [
      v(
        `${pod.specPath}.initContainers`,
        `tool-server pod has no inbound ${GATEWAY_CONTAINER_NAME} sidecar: agents could reach the server without mTLS`,
        port === undefined
          ? portFix
          : "let the mutating webhook inject it (namespace in an enclave, pod labelled warden.dev/tool-server), or run warden check --mutate to see the injected pod",
      ),
    ];
  }
  const fix = "remove your edits to the inbound gateway (and its annotation) and let the webhook inject it";
  if (ref.list !== "initContainers" || ref.container.restartPolicy !== "Always") {
    return [
      v(
        ref.path,
        `${GATEWAY_CONTAINER_NAME} must be a native sidecar (an initContainers entry with restartPolicy: Always)`,
        fix,
      ),
    ];
  }
  if (port === undefined) {
    return [
      v(
        `${pod.metaPath}.annotations`,
        "the tool server's port is unknown, so its inbound gateway cannot be verified",
        portFix,
      ),
    ];
  }
  const out: Violation[] = [];
  const hash = containerHash(ref.container);
  const status = parseGatewayStatus(annotations?.[ANNOTATION_GATEWAY_STATUS]);
  if (!status) {
    out.push(
      v(
        annPath(ANNOTATION_GATEWAY_STATUS),
        `the ${ANNOTATION_GATEWAY_STATUS} annotation is missing or not {"version","templateHash"} JSON`,
        fix,
      ),
    );
  } else if (status.templateHash !== hash) {
    out.push(
      v(
        ref.path,
        `the inbound ${GATEWAY_CONTAINER_NAME} was modified after injection (hash ${hash.slice(0, 19)}… differs from the annotation's ${status.templateHash.slice(0, 19)}…)`,
        fix,
      ),
    );
  }
  const prev = ctx.previous ? findGateway(ctx.previous.spec, ctx.previous.specPath) : undefined;
  const grandfathered = prev !== undefined && containerHash(prev.container) === hash;
  if (!grandfathered && !ctx.expectedInboundTemplateHashes(port).includes(hash)) {
    out.push(
      v(
        ref.path,
        `the ${GATEWAY_CONTAINER_NAME} sidecar is not the inbound gateway this webhook injects (inbound mode on port ${GATEWAY_INBOUND_PORT}, upstream http://127.0.0.1:${port}, image, resources and settings)`,
        fix,
      ),
    );
  }
  const volumes = pod.spec.volumes ?? [];
  for (const want of gatewayInboundVolumes(server)) {
    const i = volumes.findIndex((vol) => vol.name === want.name);
    if (i < 0) {
      out.push(
        v(`${pod.specPath}.volumes`, `volume ${String(want.name)} of the inbound gateway is missing`, fix),
      );
    } else if (canonicalJSON(volumes[i]) !== canonicalJSON(want)) {
      out.push(
        v(
          `${pod.specPath}.volumes[${i}]`,
          `volume ${String(want.name)} differs from what the injector writes`,
          "remove your definition of the volume and let the webhook inject it",
        ),
      );
    }
  }
  return out;
};
