// Semantic checks of the three warden kinds that CEL cannot do because they look at other objects:
// the enclave's sponsor requirement, grants against the ToolManifests they name, exemption rule
// ids against the rule catalog, one enclave per namespace. Some findings only warn: the object a
// reference points to may legitimately be applied a moment later (helm, kustomize ordering).

import {
  isProtectedNamespace,
  MAX_EXEMPTION_LIFETIME,
  MAX_EXEMPTION_LIFETIME_MS,
} from "../api/v1alpha1/exemptions.ts";
import { agentEnclave, agentIdentity, toolManifest } from "../api/v1alpha1/index.ts";
import { formatPath } from "../lib/errors.ts";
import { compileSurface } from "../lib/surface-grant.ts";
import { type NamespaceSnapshot, namespaceEnclave } from "./context.ts";
import { isKnownRule, isWaivable, UNWAIVABLE_RULES } from "./rules/catalog.ts";
import type { Violation } from "./rules/types.ts";

export const WARDEN_KINDS: readonly string[] = ["AgentIdentity", "AgentEnclave", "ToolManifest"];

export interface KindVerdict {
  violations: Violation[];
  warnings: string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Go-style duration ("1h30m", "90s") in milliseconds. */
export function durationMs(d: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of d.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

export function checkWardenObject(
  obj: unknown,
  s: NamespaceSnapshot,
  now: Date,
  old?: unknown,
  operatorNamespace?: string,
): KindVerdict {
  const kind = (obj as { kind?: unknown })?.kind;
  const schema =
    kind === "AgentIdentity" ? agentIdentity : kind === "AgentEnclave" ? agentEnclave : toolManifest;
  const parsed = schema.safeParse(obj);
  if (!parsed.success) {
    return {
      violations: parsed.error.issues.map((i) => ({
        rule: "object.invalid",
        path: formatPath(i.path),
        message: i.message,
        fix: `correct the field (kubectl explain ${String(kind).toLowerCase()}.${formatPath(i.path).replace(/\[\d+\]/g, "")})`,
      })),
      warnings: [],
    };
  }
  if (kind === "AgentIdentity") return checkIdentity(agentIdentity.parse(obj), s);
  if (kind === "AgentEnclave") return checkEnclave(agentEnclave.parse(obj), s, now, operatorNamespace);
  return checkToolManifest(toolManifest.parse(obj), s, old);
}

function checkIdentity(id: ReturnType<typeof agentIdentity.parse>, s: NamespaceSnapshot): KindVerdict {
  const out: KindVerdict = { violations: [], warnings: [] };
  const name = id.metadata.name ?? "";
  const nsEnclave = namespaceEnclave(s);
  const nsEnclaveName = nsEnclave && ("spec" in nsEnclave ? nsEnclave.metadata.name : nsEnclave.name);
  if (nsEnclaveName && nsEnclaveName !== id.spec.enclave) {
    out.violations.push({
      rule: "identity.enclave",
      path: "spec.enclave",
      message: `namespace ${s.namespace} belongs to enclave "${nsEnclaveName}", not "${id.spec.enclave}"`,
      fix: `set spec.enclave: ${nsEnclaveName}`,
    });
  }
  const enclave = s.enclaves.find((e) => e.metadata.name === id.spec.enclave);
  if (!enclave) {
    out.warnings.push(
      `AgentIdentity ${name}: AgentEnclave ${id.spec.enclave} does not exist in ${s.namespace} yet`,
    );
  } else {
    if (enclave.spec.requireSponsor && !id.spec.sponsor) {
      out.violations.push({
        rule: "identity.sponsorRequired",
        path: "spec.sponsor",
        message: `enclave ${enclave.metadata.name} requires every agent to name a sponsor`,
        fix: "set spec.sponsor.name to the person accountable for this agent",
      });
    }
    if (durationMs(id.spec.svid.ttl) > durationMs(enclave.spec.maxSvidTTL)) {
      out.warnings.push(
        `AgentIdentity ${name}: svid.ttl ${id.spec.svid.ttl} exceeds the enclave's maxSvidTTL ${enclave.spec.maxSvidTTL} and will be capped`,
      );
    }
  }
  (id.spec.grants ?? []).forEach((g, i) => {
    const ref = g.manifest;
    if (ref.namespace && ref.namespace !== s.namespace) {
      out.violations.push({
        rule: "identity.crossNamespaceGrant",
        path: `spec.grants[${i}].manifest.namespace`,
        message: `grants may only reference ToolManifests in ${s.namespace}, not ${ref.namespace}`,
        fix: "remove manifest.namespace (or set it to this namespace)",
      });
      return;
    }
    const tm = s.toolManifests.get(ref.name);
    if (!tm) {
      out.warnings.push(
        `AgentIdentity ${name}: ToolManifest ${ref.name} (spec.grants[${i}]) does not exist yet; its tools stay denied until it does`,
      );
      return;
    }
    if (enclave?.spec.toolServers && !enclave.spec.toolServers.includes(ref.name)) {
      out.warnings.push(
        `AgentIdentity ${name}: ToolManifest ${ref.name} is not in enclave ${enclave.metadata.name}'s toolServers, so it is unreachable`,
      );
    }
    const offered = new Set(tm.spec.tools.map((t) => t.name));
    g.tools.forEach((t, j) => {
      if (!offered.has(t.name)) {
        out.violations.push({
          rule: "identity.unknownTool",
          path: `spec.grants[${i}].tools[${j}].name`,
          message: `ToolManifest ${ref.name} offers no tool "${t.name}"`,
          fix: `grant one of: ${[...offered].slice(0, 10).join(", ")}`,
        });
      }
    });
    // The rest of the surface: what the operator would leave out of the policy, refused here with
    // the same message (compileSurface is the one definition of "within the manifest").
    for (const p of compileSurface(ref.name, tm.spec, g).problems) {
      const [message, fix] = splitFix(p.message);
      out.violations.push({
        rule: "identity.surfaceNotInManifest",
        path: `spec.grants[${i}].${p.field}`,
        message,
        fix,
      });
    }
  });
  return out;
}

function checkEnclave(
  enc: ReturnType<typeof agentEnclave.parse>,
  s: NamespaceSnapshot,
  now: Date,
  operatorNamespace: string | undefined,
): KindVerdict {
  const out: KindVerdict = { violations: [], warnings: [] };
  const name = enc.metadata.name ?? "";
  if (isProtectedNamespace(s.namespace, operatorNamespace)) {
    out.violations.push({
      rule: "enclave.namespace",
      path: "metadata.namespace",
      message: `namespace ${s.namespace} ${s.namespace === operatorNamespace ? "is agent-warden's own" : "belongs to the cluster"}: an enclave there would fence (and label) the system's own pods`,
      fix: "create the AgentEnclave in a namespace of its own project",
    });
  }
  const other = s.enclaves.find((e) => e.metadata.name !== name);
  if (other) {
    out.violations.push({
      rule: "enclave.onePerNamespace",
      path: "metadata.name",
      message: `namespace ${s.namespace} already has AgentEnclave ${other.metadata.name}; an enclave is the whole namespace`,
      fix: "use one AgentEnclave per namespace (put a second project in its own namespace)",
    });
  }
  (enc.spec.toolServers ?? []).forEach((t) => {
    if (!s.toolManifests.has(t))
      out.warnings.push(
        `AgentEnclave ${name}: toolServers names ToolManifest ${t}, which does not exist yet`,
      );
  });
  (enc.spec.exemptions ?? []).forEach((ex, i) => {
    (ex.rules ?? []).forEach((r, j) => {
      if (!isKnownRule(r)) {
        out.violations.push({
          rule: "enclave.exemptionRule",
          path: `spec.exemptions[${i}].rules[${j}]`,
          message: `"${r}" is not an admission rule id, so the exemption would waive nothing`,
          fix: "use a rule id as warden check prints it, e.g. container.readOnlyRootFilesystem (see docs/admission.md)",
        });
      } else if (!isWaivable(r)) {
        out.violations.push({
          rule: "enclave.exemptionRule",
          path: `spec.exemptions[${i}].rules[${j}]`,
          message: `${r} cannot be waived: it keeps the gateway in the pod and alone with its credentials, or a suspended identity out`,
          fix: `remove ${r}; fix the workload instead (unwaivable: ${UNWAIVABLE_RULES.join(", ")})`,
        });
      }
    });
    const start = Date.parse(ex.startsAt);
    const end = Date.parse(ex.expiresAt);
    if (!(start < end) || end - start > MAX_EXEMPTION_LIFETIME_MS) {
      out.violations.push({
        rule: "enclave.exemptionLifetime",
        path: `spec.exemptions[${i}].expiresAt`,
        message: `exemption ${ex.name} runs from ${ex.startsAt} to ${ex.expiresAt}: it must end after it starts and last at most ${MAX_EXEMPTION_LIFETIME} (30 days)`,
        fix: `set expiresAt at most 30 days after startsAt (renew the exemption explicitly when it must go on)`,
      });
    }
    const left = new Date(ex.expiresAt).getTime() - now.getTime();
    if (left <= 0)
      out.warnings.push(`AgentEnclave ${name}: exemption ${ex.name} expired at ${ex.expiresAt}; remove it`);
    else if (left < DAY_MS) {
      out.warnings.push(
        `AgentEnclave ${name}: exemption ${ex.name} expires within 24h (at ${ex.expiresAt}); fix the workloads it covers`,
      );
    }
  });
  return out;
}

function checkToolManifest(
  tm: ReturnType<typeof toolManifest.parse>,
  s: NamespaceSnapshot,
  old: unknown,
): KindVerdict {
  const out: KindVerdict = { violations: [], warnings: [] };
  const before = toolManifest.safeParse(old);
  if (!before.success) return out;
  const now = new Set(tm.spec.tools.map((t) => t.name));
  const removed = before.data.spec.tools.map((t) => t.name).filter((t) => !now.has(t));
  for (const id of s.identities.values()) {
    for (const g of id.spec.grants ?? []) {
      if (g.manifest.name !== tm.metadata.name) continue;
      const lost = g.tools.map((t) => t.name).filter((t) => removed.includes(t));
      if (lost.length) {
        out.warnings.push(
          `ToolManifest ${tm.metadata.name}: removing ${lost.join(", ")} breaks grants of AgentIdentity ${id.metadata.name}`,
        );
      }
    }
  }
  return out;
}

/** "what is wrong; what to do" → [what is wrong, what to do]. */
function splitFix(message: string): [string, string] {
  const at = message.lastIndexOf("; ");
  return at === -1 ? [message, ""] : [message.slice(0, at), message.slice(at + 2)];
}
