// The gateway sidecar is the agent's only way to its tools: it must be there (as a native sidecar,
// so it starts before and stops after the agent), be exactly what the injector wrote, keep its
// secrets to itself, and nothing else in the pod may pose as it.
import { ANNOTATION_GATEWAY_STATUS, credentialsSecretName, LABEL_AGENT } from "../../api/v1alpha1/labels.ts";
import {
  GATEWAY_CONTAINER_NAME,
  ISSUER_TOKEN_AUDIENCE,
  SIDECAR_VOLUMES,
} from "../../api/v1alpha1/sidecar.ts";
import {
  canonicalJSON,
  containerHash,
  GATEWAY_PORTS,
  gatewayVolumes,
  imageRepository,
  parseGatewayStatus,
} from "../sidecar-template.ts";
import { allContainers, type ContainerRef, keyPath, type PodSpec } from "./podspec.ts";
import type { PodView, Rule, Violation } from "./types.ts";

/** The gateway: the container named warden-gateway, wherever it is. */
export function findGateway(spec: PodSpec, specPath: string): ContainerRef | undefined {
  return allContainers(spec, specPath).find((ref) => ref.container.name === GATEWAY_CONTAINER_NAME);
}

function isNativeSidecar(ref: ContainerRef | undefined): boolean {
  return ref?.list === "initContainers" && ref.container.restartPolicy === "Always";
}

export const gatewayPresent: Rule = (pod) => {
  // A workload template gets the sidecar when each pod is created (the mutating webhook injects
  // pods, not templates, so GitOps tools see no drift); the pod itself is checked then.
  if (pod.template || findGateway(pod.spec, pod.specPath)) return [];
  return [
    {
      rule: "gateway.present",
      path: `${pod.specPath}.initContainers`,
      message: `agent pod has no ${GATEWAY_CONTAINER_NAME} sidecar`,
      fix: "let the mutating webhook inject it (namespace in an enclave, pod labelled warden.dev/agent), or run warden check --mutate to see the injected pod",
    },
  ];
};

export const gatewayNativeSidecar: Rule = (pod) => {
  const ref = findGateway(pod.spec, pod.specPath);
  if (!ref || isNativeSidecar(ref)) return [];
  return [
    {
      rule: "gateway.nativeSidecar",
      path: ref.list === "initContainers" ? `${ref.path}.restartPolicy` : ref.path,
      message:
        ref.list === "initContainers"
          ? `${GATEWAY_CONTAINER_NAME} is an init container without restartPolicy: Always (it would exit before the agent starts)`
          : `${GATEWAY_CONTAINER_NAME} must be a native sidecar (an initContainers entry with restartPolicy: Always), not in ${ref.list}`,
      fix: "remove the hand-written gateway container and let the webhook inject it",
    },
  ];
};

export const gatewayUnmodified: Rule = (pod, ctx) => {
  const ref = findGateway(pod.spec, pod.specPath);
  if (!ref || !isNativeSidecar(ref)) return [];
  const out: Violation[] = [];
  const hash = containerHash(ref.container);
  const annPath = keyPath(`${pod.metaPath}.annotations`, ANNOTATION_GATEWAY_STATUS);
  const status = parseGatewayStatus(pod.metadata.annotations?.[ANNOTATION_GATEWAY_STATUS]);
  const fix = "remove your edits to the gateway sidecar (and its annotation) and let the webhook inject it";
  if (!status) {
    out.push({
      rule: "gateway.unmodified",
      path: annPath,
      message: `the ${ANNOTATION_GATEWAY_STATUS} annotation is missing or not {"version","templateHash"} JSON`,
      fix,
    });
  } else if (status.templateHash !== hash) {
    out.push({
      rule: "gateway.unmodified",
      path: ref.path,
      message: `the ${GATEWAY_CONTAINER_NAME} sidecar was modified after injection (hash ${hash.slice(0, 19)}… differs from the annotation's ${status.templateHash.slice(0, 19)}…)`,
      fix,
    });
  }
  // On UPDATE an already-injected pod keeps the template of the webhook version that injected it.
  const prev = ctx.previous ? findGateway(ctx.previous.spec, ctx.previous.specPath) : undefined;
  const grandfathered = prev !== undefined && containerHash(prev.container) === hash;
  if (!grandfathered && !ctx.expectedTemplateHashes.includes(hash)) {
    out.push({
      rule: "gateway.unmodified",
      path: ref.path,
      message: `the ${GATEWAY_CONTAINER_NAME} sidecar is not the template this webhook injects (image, resources or settings differ)`,
      fix,
    });
  }
  out.push(...sidecarVolumesUnmodified(pod, ctx.approvalsSecret));
  return out;
};

/**
 * Bounded memo of canonical JSON by a value's plain JSON text. Every injected pod carries the same
 * volume bytes and every agent the same wanted volumes, so one native JSON.stringify and a lookup
 * replace the sorting serializer (the largest cost of a review after the body parse, issue 16).
 */
class CanonicalMemo {
  readonly #byText = new Map<string, string>();
  readonly #entries: number;
  constructor(entries: number) {
    this.#entries = entries;
  }

  canonical(value: unknown): string {
    const text = JSON.stringify(value);
    // "null" in the text may stand for NaN, Infinity or an undefined array element, which
    // canonicalJSON refuses or writes differently (YAML input in the CLI has .nan and .inf): those
    // values, and large ones, are always serialized exactly.
    if (text === undefined || text.length > 4096 || text.includes("null")) return canonicalJSON(value);
    let hit = this.#byText.get(text);
    if (hit === undefined) {
      hit = canonicalJSON(value);
      if (this.#byText.size >= this.#entries) this.#byText.delete(this.#byText.keys().next().value as string);
      this.#byText.set(text, hit);
    }
    return hit;
  }
}
const volumeTexts = new CanonicalMemo(512);

/** The injector's volumes for an agent as canonical JSON, by name; the last agents' kept. */
const wantedVolumes = new Map<string, { name: string; canonical: string }[]>();

function wantedVolumesOf(agent: string, approvalsSecret: string) {
  const key = `${approvalsSecret}\u0000${agent}`;
  let want = wantedVolumes.get(key);
  if (!want) {
    want = gatewayVolumes(agent, { approvalsSecret }).map((v) => ({
      name: String(v.name),
      canonical: canonicalJSON(v),
    }));
    if (wantedVolumes.size >= 1024) wantedVolumes.delete(wantedVolumes.keys().next().value as string);
    wantedVolumes.set(key, want);
  }
  return want;
}

function sidecarVolumesUnmodified(pod: PodView, approvalsSecret: string): Violation[] {
  const agent = pod.metadata.labels?.[LABEL_AGENT] ?? "";
  const volumes = pod.spec.volumes ?? [];
  const out: Violation[] = [];
  for (const want of wantedVolumesOf(agent, approvalsSecret)) {
    const i = volumes.findIndex((v) => v.name === want.name);
    if (i < 0) {
      out.push({
        rule: "gateway.unmodified",
        path: `${pod.specPath}.volumes`,
        message: `volume ${want.name} of the gateway sidecar is missing`,
        fix: "let the webhook inject the sidecar and its volumes",
      });
    } else if (volumeTexts.canonical(volumes[i]) !== want.canonical) {
      out.push({
        rule: "gateway.unmodified",
        path: `${pod.specPath}.volumes[${i}]`,
        message: `volume ${want.name} differs from what the injector writes`,
        fix: "remove your definition of the volume and let the webhook inject it",
      });
    }
  }
  return out;
}

export const gatewayImpersonation: Rule = (pod, ctx) => {
  const gateway = findGateway(pod.spec, pod.specPath);
  const repo = imageRepository(ctx.gatewayImage);
  const out: Violation[] = [];
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    if (ref === gateway || ref.path === gateway?.path) continue;
    if (ref.container.image && imageRepository(ref.container.image) === repo) {
      out.push({
        rule: "gateway.impersonation",
        path: `${ref.path}.image`,
        message: `container ${ref.container.name} runs the gateway image ${ref.container.image}`,
        fix: `only the injected ${GATEWAY_CONTAINER_NAME} sidecar may run the gateway image`,
      });
    }
    (ref.container.ports ?? []).forEach((p, j) => {
      if (GATEWAY_PORTS.includes(p.containerPort)) {
        out.push({
          rule: "gateway.impersonation",
          path: `${ref.path}.ports[${j}].containerPort`,
          message: `container ${ref.container.name} declares port ${p.containerPort}, reserved for the gateway`,
          fix: `use another port; ${GATEWAY_PORTS.join(", ")} belong to the gateway`,
        });
      }
    });
  }
  return out;
};

/**
 * The bundle, policy, audit, credentials and approvers volumes are the gateway's: the agent must
 * not read or rewrite them (the credentials are the tool servers', the tokens the approvers').
 */
export const gatewayVolumesPrivate: Rule = (pod, ctx) => {
  const names = new Set<string>([
    SIDECAR_VOLUMES.bundle.name,
    SIDECAR_VOLUMES.policy.name,
    SIDECAR_VOLUMES.audit.name,
    SIDECAR_VOLUMES.credentials.name,
    SIDECAR_VOLUMES.approvers.name,
  ]);
  // The same Secrets under another volume name: any agent's credentials, and the approvers.
  const gatewaySecret = (name: string | undefined) =>
    name !== undefined && (name.startsWith(credentialsSecretName("")) || name === ctx.approvalsSecret);
  for (const vol of pod.spec.volumes ?? []) {
    if (gatewaySecret(vol.secret?.secretName)) names.add(vol.name);
    if ((vol.projected?.sources ?? []).some((src) => gatewaySecret(src.secret?.name))) names.add(vol.name);
  }
  return foreignMounts(pod, names).map(({ ref, j, name }) => ({
    rule: "gateway.volumesPrivate",
    path: `${ref.path}.volumeMounts[${j}]`,
    message: `container ${ref.container.name} mounts ${name}, which belongs to the gateway sidecar`,
    fix: "remove the mount; the agent talks to the gateway over http://127.0.0.1, not through its files (tool-server credentials and approver tokens stay in the sidecar)",
  }));
};

/** Volumes holding a credential for the issuer: the issuer-audience token, and any SVID Secret. */
function credentialVolumes(pod: PodView, svidSecret: string | undefined): Set<string> {
  const names = new Set<string>();
  for (const vol of pod.spec.volumes ?? []) {
    if (vol.name === SIDECAR_VOLUMES.token.name) names.add(vol.name);
    if (svidSecret && vol.secret?.secretName === svidSecret) names.add(vol.name);
    for (const src of vol.projected?.sources ?? []) {
      if (src.serviceAccountToken?.audience === ISSUER_TOKEN_AUDIENCE) names.add(vol.name);
      if (svidSecret && src.secret?.name === svidSecret) names.add(vol.name);
    }
  }
  return names;
}

export const podIssuerTokenOnlyInSidecar: Rule = (pod, ctx) => {
  const svid = ctx.identity?.spec.svid;
  const svidSecret =
    svid?.delivery === "Secret"
      ? (svid.secretName ?? `${ctx.identity?.metadata.name ?? ""}-svid`)
      : undefined;
  return foreignMounts(pod, credentialVolumes(pod, svidSecret)).map(({ ref, j, name }) => ({
    rule: "pod.issuerTokenOnlyInSidecar",
    path: `${ref.path}.volumeMounts[${j}]`,
    message: `container ${ref.container.name} mounts ${name}, a credential for the issuer (or an SVID) that only the gateway sidecar may hold`,
    fix: "remove the mount: an agent holding it could obtain the agent's SVID and bypass the gateway",
  }));
};

function foreignMounts(pod: PodView, names: Set<string>): { ref: ContainerRef; j: number; name: string }[] {
  if (names.size === 0) return [];
  // The gateway container is judged by gateway.nativeSidecar/unmodified, not here.
  const gateway = findGateway(pod.spec, pod.specPath)?.path;
  const out: { ref: ContainerRef; j: number; name: string }[] = [];
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    if (ref.path === gateway) continue;
    (ref.container.volumeMounts ?? []).forEach((m, j) => {
      if (names.has(m.name)) out.push({ ref, j, name: m.name });
    });
  }
  return out;
}

/**
 * `kubectl debug --target=warden-gateway` adds an ephemeral container that joins the gateway's
 * process namespace: it could read the gateway's memory (the SVID key) and its mounted token
 * through /proc. No container may target the gateway.
 */
export const gatewayDebugTarget: Rule = (pod) =>
  allContainers(pod.spec, pod.specPath)
    .filter((ref) => ref.container.targetContainerName === GATEWAY_CONTAINER_NAME)
    .map((ref) => ({
      rule: "gateway.debugTarget",
      path: `${ref.path}.targetContainerName`,
      message: `container ${ref.container.name} targets ${GATEWAY_CONTAINER_NAME}: it would join the gateway's process namespace and could read its key and token`,
      fix: "debug the agent container instead (kubectl debug --target=<agent container>), or read the gateway's logs and metrics",
    }));

/**
 * The gateway runs as its own UID and GID so that no other container's processes can signal it,
 * read its files or (where namespaces are shared) its memory. Only explicit settings can be seen
 * here: an image whose USER is the gateway's UID needs runAsUser set to something else.
 */
export const gatewaySharedUser: Rule = (pod, ctx) => {
  const gateway = findGateway(pod.spec, pod.specPath)?.path;
  const podSc = pod.spec.securityContext;
  const out: Violation[] = [];
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    if (ref.path === gateway) continue;
    const sc = ref.container.securityContext;
    for (const field of ["runAsUser", "runAsGroup"] as const) {
      const own = sc?.[field];
      const effective = own ?? podSc?.[field];
      if (effective !== ctx.gatewayUID) continue;
      const path =
        own !== undefined
          ? `${ref.path}.securityContext.${field}`
          : `${pod.specPath}.securityContext.${field}`;
      out.push({
        rule: "gateway.sharedUser",
        path,
        message: `container ${ref.container.name} runs with ${field} ${effective}, the gateway's ${field === "runAsUser" ? "UID" : "GID"}`,
        fix: `set ${ref.path}.securityContext.${field} to another non-zero id (the gateway owns ${ctx.gatewayUID})`,
      });
    }
  }
  return out;
};

/**
 * SVID Secrets (Secret delivery) are credentials of one identity. No container may read another
 * identity's SVID Secret, by volume, env or envFrom; and no container but the gateway may read its
 * own identity's (volume mounts of it are pod.issuerTokenOnlyInSidecar's).
 */
export const podSvidSecret: Rule = (pod, ctx) => {
  const own = pod.metadata.labels?.[LABEL_AGENT];
  const out: Violation[] = [];
  const owner = (secret: string | undefined) => (secret ? ctx.svidSecrets.get(secret) : undefined);
  const fix =
    "remove the reference: an SVID Secret is one identity's private key, read by that identity's gateway only";
  // Paths are written only for a finding: a pod references many Secrets, almost never an SVID.
  (pod.spec.volumes ?? []).forEach((vol, i) => {
    const found = (secret: string | undefined, path: () => string) => {
      const id = owner(secret);
      if (id !== undefined && id !== own) {
        out.push({
          rule: "pod.svidSecret",
          path: path(),
          message: `volume ${vol.name} holds Secret ${secret}, the SVID of AgentIdentity ${id}${own ? `, not of ${own}` : ""}`,
          fix,
        });
      }
    };
    found(vol.secret?.secretName, () => `${pod.specPath}.volumes[${i}].secret.secretName`);
    (vol.projected?.sources ?? []).forEach((src, j) => {
      found(src.secret?.name, () => `${pod.specPath}.volumes[${i}].projected.sources[${j}].secret.name`);
    });
  });
  const gateway = findGateway(pod.spec, pod.specPath)?.path;
  for (const ref of allContainers(pod.spec, pod.specPath)) {
    if (ref.path === gateway) continue;
    const found = (secret: string | undefined, path: () => string) => {
      const id = owner(secret);
      if (id !== undefined) {
        out.push({
          rule: "pod.svidSecret",
          path: path(),
          message: `container ${ref.container.name} reads Secret ${secret}, the SVID of AgentIdentity ${id}, into its environment`,
          fix,
        });
      }
    };
    (ref.container.env ?? []).forEach((e, k) => {
      found(e.valueFrom?.secretKeyRef?.name, () => `${ref.path}.env[${k}].valueFrom.secretKeyRef.name`);
    });
    (ref.container.envFrom ?? []).forEach((e, k) => {
      found(e.secretRef?.name, () => `${ref.path}.envFrom[${k}].secretRef.name`);
    });
  }
  return out;
};
