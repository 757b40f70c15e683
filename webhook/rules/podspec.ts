// A loose, passthrough zod view of the parts of a Kubernetes pod spec the rules read. Objects come
// from the API server (already validated) or from arbitrary YAML in CI (not validated at all), so
// the rules only ever see values of the expected types; everything else passes through untouched.
import * as z from "zod";

const stringMap = z.record(z.string(), z.string());

export const seccompProfile = z.looseObject({
  type: z.string().optional(),
  localhostProfile: z.string().optional(),
});

export const appArmorProfile = z.looseObject({
  type: z.string().optional(),
  localhostProfile: z.string().optional(),
});

export const seLinuxOptions = z.looseObject({
  type: z.string().optional(),
  user: z.string().optional(),
  role: z.string().optional(),
  level: z.string().optional(),
});

export const windowsOptions = z.looseObject({ hostProcess: z.boolean().optional() });

export const securityContext = z.looseObject({
  runAsNonRoot: z.boolean().optional(),
  runAsUser: z.number().optional(),
  runAsGroup: z.number().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  privileged: z.boolean().optional(),
  capabilities: z
    .looseObject({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() })
    .optional(),
  seccompProfile: seccompProfile.optional(),
  appArmorProfile: appArmorProfile.optional(),
  seLinuxOptions: seLinuxOptions.optional(),
  procMount: z.string().optional(),
  windowsOptions: windowsOptions.optional(),
});

export const podSecurityContext = z.looseObject({
  runAsNonRoot: z.boolean().optional(),
  runAsUser: z.number().optional(),
  runAsGroup: z.number().optional(),
  seccompProfile: seccompProfile.optional(),
  appArmorProfile: appArmorProfile.optional(),
  seLinuxOptions: seLinuxOptions.optional(),
  windowsOptions: windowsOptions.optional(),
  sysctls: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
});

/** The host field of an httpGet or tcpSocket handler (probes and lifecycle hooks). */
const hostHandler = z.looseObject({
  httpGet: z.looseObject({ host: z.string().optional() }).optional(),
  tcpSocket: z.looseObject({ host: z.string().optional() }).optional(),
});

export const volumeMount = z.looseObject({
  name: z.string(),
  mountPath: z.string(),
  readOnly: z.boolean().optional(),
});

export const container = z.looseObject({
  name: z.string(),
  image: z.string().optional(),
  restartPolicy: z.string().optional(),
  ports: z
    .array(
      z.looseObject({
        containerPort: z.number(),
        hostPort: z.number().optional(),
        name: z.string().optional(),
        protocol: z.string().optional(),
      }),
    )
    .optional(),
  env: z
    .array(
      z.looseObject({
        name: z.string(),
        value: z.string().optional(),
        valueFrom: z
          .looseObject({ secretKeyRef: z.looseObject({ name: z.string().optional() }).optional() })
          .optional(),
      }),
    )
    .optional(),
  envFrom: z
    .array(z.looseObject({ secretRef: z.looseObject({ name: z.string().optional() }).optional() }))
    .optional(),
  volumeMounts: z.array(volumeMount).optional(),
  securityContext: securityContext.optional(),
  livenessProbe: hostHandler.optional(),
  readinessProbe: hostHandler.optional(),
  startupProbe: hostHandler.optional(),
  lifecycle: z.looseObject({ postStart: hostHandler.optional(), preStop: hostHandler.optional() }).optional(),
  /** Ephemeral containers only: the container whose namespaces it joins (kubectl debug --target). */
  targetContainerName: z.string().optional(),
});

export const volume = z.looseObject({
  name: z.string(),
  hostPath: z.looseObject({ path: z.string() }).optional(),
  secret: z.looseObject({ secretName: z.string().optional() }).optional(),
  projected: z
    .looseObject({
      sources: z
        .array(
          z.looseObject({
            serviceAccountToken: z
              .looseObject({
                audience: z.string().optional(),
                expirationSeconds: z.number().optional(),
                path: z.string(),
              })
              .optional(),
            secret: z.looseObject({ name: z.string().optional() }).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});

export const podSpec = z.looseObject({
  serviceAccountName: z.string().optional(),
  automountServiceAccountToken: z.boolean().optional(),
  hostNetwork: z.boolean().optional(),
  hostPID: z.boolean().optional(),
  hostIPC: z.boolean().optional(),
  shareProcessNamespace: z.boolean().optional(),
  hostUsers: z.boolean().optional(),
  os: z.looseObject({ name: z.string().optional() }).optional(),
  securityContext: podSecurityContext.optional(),
  containers: z.array(container),
  initContainers: z.array(container).optional(),
  ephemeralContainers: z.array(container).optional(),
  volumes: z.array(volume).optional(),
});

export const podTemplateMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
});

// ---------------------------------------------------------------------------------------------
// The same schemas as plain type guards, for the common case. A review's pod comes from the API
// server and is already well-typed; copying it through zod (every looseObject copies its input)
// was the largest cost of a review after the body parse, and most of the garbage. When a guard
// accepts, the input itself is the view (zod would return an equal copy); when it refuses, zod
// parses as before and reports the field. A guard may refuse what zod accepts (zod then decides),
// never the reverse: podspec-shape.test.ts checks that on random and hostile shapes.

type Guard = (v: unknown) => boolean;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isString = (v: unknown) => typeof v === "string";
const isBoolean = (v: unknown) => typeof v === "boolean";
const isNumber = (v: unknown) => typeof v === "number" && Number.isFinite(v);
const opt =
  (g: Guard): Guard =>
  (v) =>
    v === undefined || g(v);
const arrayOf =
  (g: Guard): Guard =>
  (v) => {
    if (!Array.isArray(v)) return false;
    for (let i = 0; i < v.length; i++) if (!g(v[i])) return false;
    return true;
  };
/** A looseObject: an object whose listed members pass their guards (others pass through). */
const shape = (members: Record<string, Guard>): Guard => {
  const entries = Object.entries(members);
  return (v) => {
    if (!isObject(v)) return false;
    for (const [k, g] of entries) if (!g(v[k])) return false;
    return true;
  };
};
/** A record of strings, only as JSON.parse makes them (a plain object of own string members). */
const isStringMap: Guard = (v) => {
  if (!isObject(v)) return false;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v) if (!Object.hasOwn(v, k) || typeof v[k] !== "string") return false;
  return true;
};

const profileShape = opt(shape({ type: opt(isString), localhostProfile: opt(isString) }));
const seLinuxShape = opt(
  shape({ type: opt(isString), user: opt(isString), role: opt(isString), level: opt(isString) }),
);
const windowsShape = opt(shape({ hostProcess: opt(isBoolean) }));
const hostHandlerShape = opt(
  shape({
    httpGet: opt(shape({ host: opt(isString) })),
    tcpSocket: opt(shape({ host: opt(isString) })),
  }),
);
const containerShape = shape({
  name: isString,
  image: opt(isString),
  restartPolicy: opt(isString),
  ports: opt(
    arrayOf(
      shape({
        containerPort: isNumber,
        hostPort: opt(isNumber),
        name: opt(isString),
        protocol: opt(isString),
      }),
    ),
  ),
  env: opt(
    arrayOf(
      shape({
        name: isString,
        value: opt(isString),
        valueFrom: opt(shape({ secretKeyRef: opt(shape({ name: opt(isString) })) })),
      }),
    ),
  ),
  envFrom: opt(arrayOf(shape({ secretRef: opt(shape({ name: opt(isString) })) }))),
  volumeMounts: opt(arrayOf(shape({ name: isString, mountPath: isString, readOnly: opt(isBoolean) }))),
  securityContext: opt(
    shape({
      runAsNonRoot: opt(isBoolean),
      runAsUser: opt(isNumber),
      runAsGroup: opt(isNumber),
      readOnlyRootFilesystem: opt(isBoolean),
      allowPrivilegeEscalation: opt(isBoolean),
      privileged: opt(isBoolean),
      capabilities: opt(shape({ add: opt(arrayOf(isString)), drop: opt(arrayOf(isString)) })),
      seccompProfile: profileShape,
      appArmorProfile: profileShape,
      seLinuxOptions: seLinuxShape,
      procMount: opt(isString),
      windowsOptions: windowsShape,
    }),
  ),
  livenessProbe: hostHandlerShape,
  readinessProbe: hostHandlerShape,
  startupProbe: hostHandlerShape,
  lifecycle: opt(shape({ postStart: hostHandlerShape, preStop: hostHandlerShape })),
  targetContainerName: opt(isString),
});
const volumeShape = shape({
  name: isString,
  hostPath: opt(shape({ path: isString })),
  secret: opt(shape({ secretName: opt(isString) })),
  projected: opt(
    shape({
      sources: opt(
        arrayOf(
          shape({
            serviceAccountToken: opt(
              shape({ audience: opt(isString), expirationSeconds: opt(isNumber), path: isString }),
            ),
            secret: opt(shape({ name: opt(isString) })),
          }),
        ),
      ),
    }),
  ),
});
const podSpecShape = shape({
  serviceAccountName: opt(isString),
  automountServiceAccountToken: opt(isBoolean),
  hostNetwork: opt(isBoolean),
  hostPID: opt(isBoolean),
  hostIPC: opt(isBoolean),
  shareProcessNamespace: opt(isBoolean),
  hostUsers: opt(isBoolean),
  os: opt(shape({ name: opt(isString) })),
  securityContext: opt(
    shape({
      runAsNonRoot: opt(isBoolean),
      runAsUser: opt(isNumber),
      runAsGroup: opt(isNumber),
      seccompProfile: profileShape,
      appArmorProfile: profileShape,
      seLinuxOptions: seLinuxShape,
      windowsOptions: windowsShape,
      sysctls: opt(arrayOf(shape({ name: isString, value: opt(isString) }))),
    }),
  ),
  containers: arrayOf(containerShape),
  initContainers: opt(arrayOf(containerShape)),
  ephemeralContainers: opt(arrayOf(containerShape)),
  volumes: opt(arrayOf(volumeShape)),
});
const podTemplateMetaShape = shape({
  name: opt(isString),
  namespace: opt(isString),
  labels: opt(isStringMap),
  annotations: opt(isStringMap),
});

/** True when `v` is already what podSpec parses to (the guard above); false means: ask zod. */
export function isPodSpecShape(v: unknown): v is PodSpec {
  return podSpecShape(v);
}

/** True when `v` is already what podTemplateMeta parses to; false means: ask zod. */
export function isPodTemplateMetaShape(v: unknown): v is PodTemplateMeta {
  return podTemplateMetaShape(v);
}

export type Container = z.infer<typeof container>;
export type Volume = z.infer<typeof volume>;
export type PodSpec = z.infer<typeof podSpec>;
export type PodTemplateMeta = z.infer<typeof podTemplateMeta>;
export type SecurityContext = z.infer<typeof securityContext>;

export type ContainerList = "initContainers" | "containers" | "ephemeralContainers";

export interface ContainerRef {
  list: ContainerList;
  index: number;
  container: Container;
  /** Path of the container, e.g. spec.template.spec.initContainers[0]. */
  path: string;
}

/**
 * The containers of each spec already listed, by spec path: some thirty rules ask for the same list
 * in one review, and each list costs an array and a path string per container. A remembered list
 * is used only while the spec still holds the same container objects in the same places.
 */
const listed = new WeakMap<PodSpec, { specPath: string; refs: readonly ContainerRef[] }>();

/** Whether a remembered list still describes the spec (the same container objects at the same places). */
function stillListed(spec: PodSpec, refs: readonly ContainerRef[]): boolean {
  let n = 0;
  for (const list of ["initContainers", "containers", "ephemeralContainers"] as const) {
    const cs = spec[list] ?? [];
    for (let i = 0; i < cs.length; i++, n++) {
      const ref = refs[n];
      if (ref === undefined || ref.container !== cs[i] || ref.list !== list) return false;
    }
  }
  return n === refs.length;
}

/** Every container of the pod (init, regular, ephemeral), with its path. */
export function allContainers(spec: PodSpec, specPath: string): readonly ContainerRef[] {
  const hit = listed.get(spec);
  if (hit?.specPath === specPath && stillListed(spec, hit.refs)) return hit.refs;
  const refs = Object.freeze(listContainers(spec, specPath));
  listed.set(spec, { specPath, refs });
  return refs;
}

function listContainers(spec: PodSpec, specPath: string): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const list of ["initContainers", "containers", "ephemeralContainers"] as const) {
    (spec[list] ?? []).forEach((container, index) => {
      out.push({ list, index, container, path: `${specPath}.${list}[${index}]` });
    });
  }
  return out;
}

/** A label or annotation key as a path segment: metadata.labels["warden.dev/agent"]. */
export function keyPath(prefix: string, key: string): string {
  return `${prefix}[${JSON.stringify(key)}]`;
}
