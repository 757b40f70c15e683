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
 * in one review, and each list costs an array and a path string per container. Specs are the
 * rules' read-only view (parsed per review), so a spec object's list never changes.
 */
const listed = new WeakMap<PodSpec, { specPath: string; refs: readonly ContainerRef[] }>();

/** Every container of the pod (init, regular, ephemeral), with its path. */
export function allContainers(spec: PodSpec, specPath: string): readonly ContainerRef[] {
  const hit = listed.get(spec);
  if (hit?.specPath === specPath) return hit.refs;
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
