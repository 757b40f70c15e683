// agent-warden's images, described once: which entrypoints each one bundles, how it starts, what it
// exposes. scripts/images/build.ts turns these into OCI archives; docs/adr/0011-images.md records why
// there are four images and how they are built.

import { cliBuildDefines } from "../build-cli.ts";
import type { LayerEntryInput } from "./oci.ts";
import { NODE_PATH } from "./runtime.ts";

export interface ComponentImage {
  /** Image name: the last path component of the repository (ghcr.io/agent-warden/<name>). */
  name: "operator" | "webhook" | "gateway" | "cli";
  /** org.opencontainers.image.description. */
  description: string;
  /** TypeScript entrypoint → the bundle's path below /app (mirrors the source tree). */
  bundle: { entry: string; out: string };
  /** Executable bundles get this first line (the kernel runs Node for them). */
  shebang?: string;
  entrypoint: string[];
  cmd?: string[];
  exposedPorts?: number[];
  /** More files in the app layer. */
  extra?: LayerEntryInput[];
  /**
   * Worker-thread entrypoints, each bundled on its own beside the main bundle: code starts them by
   * a URL relative to its own module, which esbuild does not follow (gateway/decide/offload.ts).
   */
  workers?: { entry: string; out: string }[];
  /** Bare imports replaced by a smaller entry file for this bundle (scripts/images/bundle.ts `substitute`). */
  substitute?: Record<string, string>;
  /** Build-time constants for the bundle (esbuild `define`), computed from the repository root. */
  define?: (root: string) => Record<string, string>;
  /**
   * A V8 code cache of the bundle and its workers, made at build time into this directory below
   * APP_DIR (scripts/images/compile-cache.ts); the image's environment points Node at it.
   */
  compileCache?: string;
}

/** Where the bundles live in every image. */
export const APP_DIR = "/app";

export const COMPONENT_IMAGES: readonly ComponentImage[] = [
  {
    name: "operator",
    description:
      "agent-warden operator: controllers for AgentEnclave, AgentIdentity and ToolManifest, and the SVID issuer",
    bundle: { entry: "operator/main.ts", out: "operator/main.mjs" },
    entrypoint: [NODE_PATH, `${APP_DIR}/operator/main.mjs`],
    // 8080 probes and metrics, 8443 the SVID issuer.
    exposedPorts: [8080, 8443],
  },
  {
    name: "webhook",
    description: "agent-warden admission webhook: injects the gateway sidecar and validates agent pods",
    bundle: { entry: "webhook/main.ts", out: "webhook/main.mjs" },
    entrypoint: [NODE_PATH, `${APP_DIR}/webhook/main.mjs`],
    exposedPorts: [9443],
  },
  {
    name: "gateway",
    description:
      "agent-warden gateway: the per-call MCP authorization sidecar (outbound) and the tool-server proxy (inbound)",
    bundle: { entry: "gateway/main.ts", out: "gateway/main.mjs" },
    // undici's index loads fetch, WebSocket, caches and mocks the sidecar never uses (~3 MiB resident).
    substitute: { undici: "scripts/images/undici-gateway.cjs" },
    // Decides server→client messages above 256 KiB off the event loop; offload.ts loads it from
    // beside the bundle.
    workers: [{ entry: "gateway/decide/server-message-worker.ts", out: "gateway/server-message-worker.mjs" }],
    // Every agent pod starts one under a 500m CPU limit: skip parsing and compiling the bundle.
    compileCache: "gateway/.node-compile-cache",
    entrypoint: [NODE_PATH, `${APP_DIR}/gateway/main.mjs`],
    // 15001 outbound (loopback), 15443 inbound (mTLS), 15020 admin (health, metrics).
    exposedPorts: [15001, 15443, 15020],
  },
  {
    name: "cli",
    description:
      "warden: offline admission checks, tool-call authorization and audit-log verification for CI",
    bundle: { entry: "cli/warden.ts", out: "cli/warden.mjs" },
    // The same baked-in version, commit and CRDs as the npm package (scripts/build-cli.ts).
    define: cliBuildDefines,
    shebang: `#!${NODE_PATH}`,
    entrypoint: ["/usr/local/bin/warden"],
    extra: [{ type: "symlink", path: "usr/local/bin/warden", target: `${APP_DIR}/cli/warden.mjs` }],
  },
];
