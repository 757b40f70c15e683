// The warden CRDs `warden check` validates against: baked into the packed CLI by
// scripts/build-cli.ts, read from crds/ in a source checkout. Either way the very files the
// cluster installs, not a re-derivation of them.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

declare const __WARDEN_CRDS__: unknown[] | undefined;

export function bundledCrdObjects(): unknown[] {
  if (typeof __WARDEN_CRDS__ !== "undefined") return __WARDEN_CRDS__;
  const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "crds");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => parseYaml(readFileSync(join(dir, f), "utf8")) as unknown);
}
