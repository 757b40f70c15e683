// compileSurface: the MCP surface beyond tools (resources, prompts, completion, logging, and the
// requests the server may send the agent) that one grant yields, within what its ToolManifest
// allows. Pure. Like tools, a grant yields only what both sides allow: a URI pattern only when a
// manifest pattern covers it, a prompt only when the manifest lists it, a flag only when both set
// it. What the manifest does not allow is left out (fail closed) and reported as a problem that
// names the field and the fix.
import type { CompiledServer, Grant, ToolManifestSpec } from "../api/v1alpha1/index.ts";
import { patternCovers, uriProblem } from "./uri-pattern.ts";

export interface SurfaceProblem {
  reason: "ResourceNotInManifest" | "PromptNotInManifest" | "NotAllowedByManifest";
  message: string;
  /** The offending field inside the grant, e.g. `resources.uriPatterns[1]` or `completion`. */
  field: string;
}

type Surface = Pick<CompiledServer, "resources" | "prompts" | "completion" | "logging" | "clientFeatures">;

/** A pattern's shape problem, checked as a URI with its `*` read literally ('*' alone is fine). */
export function uriPatternProblem(pattern: string): string | undefined {
  return pattern === "*" ? undefined : uriProblem(pattern);
}

export function compileSurface(
  manifestName: string,
  manifest: ToolManifestSpec,
  grant: Grant,
): { surface: Surface; problems: SurfaceProblem[] } {
  const problems: SurfaceProblem[] = [];
  const surface: Surface = {};
  const where = `the grant of ToolManifest ${manifestName}`;

  if (grant.resources) {
    const allowed = manifest.resources;
    if (!allowed) {
      problems.push({
        reason: "ResourceNotInManifest",
        message: `${where} sets resources, but the ToolManifest allows none; add spec.resources.uriPatterns to ToolManifest ${manifestName} or remove resources from the grant`,
        field: "resources",
      });
    } else {
      const kept = new Set<string>();
      grant.resources.uriPatterns.forEach((p, i) => {
        const field = `resources.uriPatterns[${i}]`;
        const bad = uriPatternProblem(p);
        if (bad) {
          problems.push({
            reason: "ResourceNotInManifest",
            message: `${where}: resources.uriPatterns entry ${JSON.stringify(p)} ${bad}; fix the pattern`,
            field,
          });
        } else if (!allowed.uriPatterns.some((outer) => patternCovers(outer, p))) {
          problems.push({
            reason: "ResourceNotInManifest",
            message: `${where}: resources.uriPatterns entry ${JSON.stringify(p)} is not within the ToolManifest's spec.resources.uriPatterns (${allowed.uriPatterns.join(", ")}); narrow it or widen the manifest`,
            field,
          });
        } else {
          kept.add(p);
        }
      });
      let subscribe = grant.resources.subscribe;
      if (subscribe && !allowed.subscribe) {
        subscribe = false;
        problems.push({
          reason: "NotAllowedByManifest",
          message: `${where} sets resources.subscribe, but ToolManifest ${manifestName} does not allow it; set spec.resources.subscribe: true there or remove it from the grant`,
          field: "resources.subscribe",
        });
      }
      if (kept.size > 0) surface.resources = { uriPatterns: [...kept].sort(), subscribe };
    }
  }

  if (grant.prompts) {
    const offered = new Set(manifest.prompts ?? []);
    const kept = new Set<string>();
    grant.prompts.forEach((name, i) => {
      if (offered.has(name)) kept.add(name);
      else
        problems.push({
          reason: "PromptNotInManifest",
          message: `${where}: prompt ${name} is not listed in ToolManifest ${manifestName}'s spec.prompts; fix the name or add the prompt to the manifest`,
          field: `prompts[${i}]`,
        });
    });
    if (kept.size > 0) surface.prompts = [...kept].sort();
  }

  const flag = (field: "completion" | "logging") => {
    if (grant[field] !== true) return;
    if (manifest[field] === true) surface[field] = true;
    else
      problems.push({
        reason: "NotAllowedByManifest",
        message: `${where} sets ${field}, but ToolManifest ${manifestName} does not allow it; set spec.${field}: true there or remove it from the grant`,
        field,
      });
  };
  flag("completion");
  flag("logging");

  if (grant.clientFeatures) {
    const features = { sampling: false, elicitation: false, roots: false };
    for (const f of ["sampling", "elicitation", "roots"] as const) {
      if (!grant.clientFeatures[f]) continue;
      if (manifest.clientFeatures?.[f]) features[f] = true;
      else
        problems.push({
          reason: "NotAllowedByManifest",
          message: `${where} sets clientFeatures.${f}, but ToolManifest ${manifestName} does not allow it; set spec.clientFeatures.${f}: true there or remove it from the grant`,
          field: `clientFeatures.${f}`,
        });
    }
    if (features.sampling || features.elicitation || features.roots) surface.clientFeatures = features;
  }
  return { surface, problems };
}

/** Whether a grant yields anything of the surface beyond tools under this manifest. */
export function grantsSurface(manifestName: string, manifest: ToolManifestSpec, grant: Grant): boolean {
  return Object.keys(compileSurface(manifestName, manifest, grant).surface).length > 0;
}
