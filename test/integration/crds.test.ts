// The generated CRDs on a real kube-apiserver, driven by the real kubectl as a user drives it: they
// are Established, the samples apply and read back with defaults, invalid specs are refused with
// the offending field named, and get/explain/categories show what the CRDs promise.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { createNamespace, kubectl } from "../support/kube.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const SAMPLES = join(ROOT, "manifests", "samples");

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };

/** The sample objects, moved into `namespace` (the Namespace object itself is left out). */
function samples(namespace: string): Obj[] {
  return readdirSync(SAMPLES)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(SAMPLES, f), "utf8")).map((d) => d.toJS() as Obj))
    .filter((o) => o.kind !== "Namespace")
    .map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
}

function toYaml(objs: Obj[]): string {
  return objs.map((o) => stringify(o)).join("---\n");
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function getJSON(
  kind: string,
  name: string,
  ns: string,
): Promise<Obj & { spec: Record<string, unknown> }> {
  return JSON.parse(await ok(["get", kind, name, "-n", ns, "-o", "json"]));
}

const CRDS = [
  { name: "agentenclaves.warden.dev", kind: "AgentEnclave", short: "enc" },
  { name: "agentidentities.warden.dev", kind: "AgentIdentity", short: "aid" },
  { name: "toolmanifests.warden.dev", kind: "ToolManifest", short: "tm" },
];

describe("CRDs on the API server", () => {
  it("are Established with their names, short names and the warden category", async () => {
    for (const crd of CRDS) {
      const got = JSON.parse(await ok(["get", "crd", crd.name, "-o", "json"]));
      const cond = (t: string) =>
        (got.status.conditions as { type: string; status: string }[]).find((c) => c.type === t)?.status;
      expect(cond("Established"), crd.name).toBe("True");
      expect(cond("NamesAccepted"), crd.name).toBe("True");
      expect(cond("NonStructuralSchema"), crd.name).toBeUndefined();
      expect(got.status.acceptedNames).toMatchObject({
        kind: crd.kind,
        shortNames: [crd.short],
        categories: ["warden"],
      });
      expect(got.spec.versions[0].subresources).toEqual({ status: {} });
    }
  });
});

describe("samples", () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    ns = await createNamespace("crds-samples");
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  it("every sample applies and reads back as written, with the defaults filled in", async () => {
    const objs = samples(ns.name);
    const out = await ok(["apply", "--server-side", "--field-manager=crds-test", "-f", "-"], toYaml(objs));
    for (const o of objs) expect(out).toContain(o.metadata.name);

    for (const o of objs.filter((x) => x.kind !== "Secret")) {
      const back = await getJSON(o.kind, o.metadata.name, ns.name);
      // Everything written comes back unchanged (no field pruned by the schema).
      expect(back.spec, `${o.kind}/${o.metadata.name}`).toMatchObject(o.spec as object);
    }

    const research = await getJSON("agentidentity", "research-agent", ns.name);
    expect(research.spec.svid).toEqual({ ttl: "15m", delivery: "Issuer" });
    expect(research.spec.suspended).toBe(false);
    const support = await getJSON("aid", "support-agent", ns.name);
    expect(support.spec.svid).toMatchObject({ ttl: "30m", delivery: "Issuer" });

    const enclave = await getJSON("enc", "research-lab", ns.name);
    expect(enclave.spec).toMatchObject({ maxSvidTTL: "1h", requireSponsor: true, requireTaskToken: false });
    expect((enclave.spec.egress as { ports: { protocol: string }[] }[])[0]!.ports[0]!.protocol).toBe("TCP");

    const search = await getJSON("tm", "search-tools", ns.name);
    expect(search.spec.transport).toBe("StreamableHTTP");
    const fetchUrl = (search.spec.tools as { name: string; rateLimit?: unknown }[]).find(
      (t) => t.name === "fetch_url",
    );
    expect(fetchUrl).toBeDefined();
    const tickets = await getJSON("tm", "ticket-tools", ns.name);
    const getTicket = (tickets.spec.tools as { name: string; risk: string }[]).find(
      (t) => t.name === "get_ticket",
    );
    expect(getTicket?.risk).toBe("Low");
    const webSearch = (research.spec.grants as { tools: { name: string; rateLimit: unknown }[] }[])[0]!
      .tools[0];
    expect(webSearch).toMatchObject({
      name: "web_search",
      rateLimit: { requests: 30, period: "1m", burst: 10 },
    });
  });

  it("kubectl get aid shows the printer columns, filled from spec and status", async () => {
    await ok(
      [
        "patch",
        "aid",
        "research-agent",
        "-n",
        ns.name,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({
          status: {
            spiffeID: `spiffe://cluster.local/ns/${ns.name}/sa/research-agent`,
            lastIssued: { serial: "0a1b", notAfter: "2030-01-01T00:00:00Z" },
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "Reconciled",
                message: "ok",
                lastTransitionTime: "2026-01-01T00:00:00Z",
              },
            ],
          },
        }),
      ],
      undefined,
    );
    const table = await ok(["get", "aid", "-n", ns.name]);
    const [header, ...rows] = table.trim().split("\n");
    expect(header).toMatch(/^NAME\s+ENCLAVE\s+TYPE\s+READY\s+SPIFFE ID\s+EXPIRES\s+AGE$/);
    const research = rows.find((r) => r.startsWith("research-agent "));
    expect(research).toMatch(
      new RegExp(
        `^research-agent\\s+research-lab\\s+research-assistant\\s+True\\s+spiffe://cluster.local/ns/${ns.name}/sa/research-agent\\s+2030-01-01T00:00:00Z\\s+\\S+$`,
      ),
    );
    expect(rows.find((r) => r.startsWith("support-agent "))).toMatch(
      /^support-agent\s+research-lab\s+support-triage\s/,
    );
    const wide = await ok(["get", "aid", "-n", ns.name, "-o", "wide"]);
    expect(wide.split("\n")[0]).toMatch(/\sSUSPENDED\s/);
  });

  it("kubectl get warden (the category) lists all three kinds", async () => {
    const names = (await ok(["get", "warden", "-n", ns.name, "-o", "name"])).trim().split("\n").sort();
    expect(names).toEqual([
      "agentenclave.warden.dev/research-lab",
      "agentidentity.warden.dev/research-agent",
      "agentidentity.warden.dev/support-agent",
      "toolmanifest.warden.dev/search-tools",
      "toolmanifest.warden.dev/ticket-tools",
    ]);
  });
});

/** kubectl explain output with its line wrapping undone, so descriptions can be matched whole. */
async function explain(path: string): Promise<string> {
  return (await ok(["explain", path])).replace(/\s+/g, " ");
}

describe("kubectl explain", () => {
  it("agentidentity.spec.svid shows the field descriptions", async () => {
    const out = await explain("agentidentity.spec.svid");
    expect(out).toContain("How the agent's SPIFFE identity documents are issued and delivered.");
    expect(out).toContain("ttl <string>");
    expect(out).toContain("Lifetime of each X.509-SVID, 5m-24h (default 15m)");
    expect(out).toContain("delivery <string> enum: Issuer, Secret");
    expect(out).toContain("Issuer (default): the gateway sidecar makes its key in the pod");
    expect(out).toContain("Secret name for Secret delivery");
    expect(out).toContain("Audiences the agent may request JWT-SVIDs for.");
  });

  it("describes each kind and nested fields of the other two", async () => {
    expect(await explain("aid")).toContain("AgentIdentity is one AI agent: a ServiceAccount and SPIFFE ID");
    expect(await explain("enc.spec.exemptions.expiresAt")).toContain("Required: exemptions are temporary.");
    expect(await explain("tm.spec.tools.digest")).toContain("Pinned sha256 of the canonical JSON");
  });
});

// ---- invalid specs -------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: mutations reach into sample YAML of known shape
type Mutate = (spec: Record<string, any>) => void;

interface InvalidCase {
  what: string;
  kind: "AgentEnclave" | "AgentIdentity" | "ToolManifest";
  /** Replaces metadata.name (default: a unique name). */
  name?: string;
  mutate: Mutate;
  /** The field path kubectl must print, exactly. */
  path: string;
  /** A fragment of the message, so the right rule is the one that fired. */
  message: string | RegExp;
}

const INVALID: InvalidCase[] = [
  {
    what: "svid.ttl below 5m",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.svid = { ttl: "1m" };
    },
    path: "spec.svid.ttl",
    message: "svid.ttl must be between 5m and 24h",
  },
  {
    what: "svid.ttl above 24h",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.svid = { ttl: "48h" };
    },
    path: "spec.svid.ttl",
    message: "svid.ttl must be between 5m and 24h",
  },
  {
    what: "svid.ttl that is not a duration",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.svid = { ttl: "15 minutes" };
    },
    path: "spec.svid.ttl",
    message: "should match",
  },
  {
    what: 'granted tool name ""',
    kind: "AgentIdentity",
    mutate: (s) => {
      s.grants[0].tools[0].name = "";
    },
    path: "spec.grants[0].tools[0].name",
    message: "at least 1 chars long",
  },
  {
    what: 'granted tool name " x"',
    kind: "AgentIdentity",
    mutate: (s) => {
      s.grants[0].tools[0].name = " x";
    },
    path: "spec.grants[0].tools[0].name",
    message: "should match '^[A-Za-z0-9_.-]{1,128}$'",
  },
  {
    what: 'granted tool name "*" (no wildcards)',
    kind: "AgentIdentity",
    mutate: (s) => {
      s.grants[0].tools[0].name = "*";
    },
    path: "spec.grants[0].tools[0].name",
    message: "should match '^[A-Za-z0-9_.-]{1,128}$'",
  },
  {
    what: "negative rateLimit.requests",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.grants[0].tools[0].rateLimit = { requests: -5 };
    },
    path: "spec.grants[0].tools[0].rateLimit.requests",
    message: "greater than or equal to 1",
  },
  {
    what: "the same tool granted twice",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.grants[0].tools.push({ name: s.grants[0].tools[0].name });
    },
    path: "spec.grants[0].tools[2]",
    message: "Duplicate value",
  },
  {
    what: "the same ToolManifest in two grants",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.grants.push({ manifest: { name: s.grants[0].manifest.name }, tools: [{ name: "web_search" }] });
    },
    path: "spec.grants",
    message: "each ToolManifest may appear in only one grant",
  },
  {
    what: 'agentType with "/" (would break the SPIFFE path)',
    kind: "AgentIdentity",
    mutate: (s) => {
      s.agentType = "research/../admin";
    },
    path: "spec.agentType",
    message: "should match",
  },
  {
    what: 'serviceAccountName with "/"',
    kind: "AgentIdentity",
    mutate: (s) => {
      s.serviceAccountName = "x/sa/admin";
    },
    path: "spec.serviceAccountName",
    message: "should match",
  },
  {
    what: "serviceAccountName in upper case",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.serviceAccountName = "ResearchAgent";
    },
    path: "spec.serviceAccountName",
    message: "should match",
  },
  {
    what: "svid.secretName without Secret delivery",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.svid = { secretName: "research-svid" };
    },
    path: "spec.svid.secretName",
    message: "svid.secretName is only used with svid.delivery: Secret",
  },
  {
    what: "svid.delivery not Issuer or Secret",
    kind: "AgentIdentity",
    mutate: (s) => {
      s.svid = { delivery: "File" };
    },
    path: "spec.svid.delivery",
    message: 'supported values: "Issuer", "Secret"',
  },
  {
    what: "missing enclave",
    kind: "AgentIdentity",
    mutate: (s) => {
      delete s.enclave;
    },
    path: "spec.enclave",
    message: "Required value",
  },
  {
    what: "a name longer than a label value allows",
    kind: "AgentIdentity",
    name: `agent-${"x".repeat(60)}`,
    mutate: () => {},
    path: "",
    message: "metadata.name of an AgentIdentity is at most 63 characters",
  },
  {
    what: "exemption without expiresAt",
    kind: "AgentEnclave",
    mutate: (s) => {
      delete s.exemptions[0].expiresAt;
    },
    path: "spec.exemptions[0].expiresAt",
    message: "Required value",
  },
  {
    what: "exemption with a short reason",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.exemptions[0].reason = "because";
    },
    path: "spec.exemptions[0].reason",
    message: "at least 10 chars long",
  },
  {
    what: "exemption that waives nothing",
    kind: "AgentEnclave",
    mutate: (s) => {
      delete s.exemptions[0].rules;
    },
    path: "spec.exemptions[0]",
    message: "an exemption must waive at least one rule or allow at least one egress",
  },
  {
    what: "exemption without startsAt",
    kind: "AgentEnclave",
    mutate: (s) => {
      delete s.exemptions[0].startsAt;
    },
    path: "spec.exemptions[0].startsAt",
    message: "Required value",
  },
  {
    what: "exemption longer than 30 days",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.exemptions[0].startsAt = "2027-01-01T00:00:00Z";
      s.exemptions[0].expiresAt = "2037-01-01T00:00:00Z";
    },
    path: "spec.exemptions[0].expiresAt",
    message: "an exemption lasts at most 720h (30 days)",
  },
  {
    what: "exemption that ends before it starts",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.exemptions[0].startsAt = "2027-04-01T00:00:00Z";
    },
    path: "spec.exemptions[0].expiresAt",
    message: "expiresAt must be after startsAt",
  },
  {
    what: "exemption that waives the gateway sidecar",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.exemptions[0].rules = ["container.readOnlyRootFilesystem", "gateway.present"];
    },
    path: "spec.exemptions[0].rules",
    message: "exemptions cannot waive the gateway's presence and integrity",
  },
  {
    what: "exemption that waives the issuer-token rule",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.exemptions[0].rules = ["pod.issuerTokenOnlyInSidecar"];
    },
    path: "spec.exemptions[0].rules",
    message: "exemptions cannot waive the gateway's presence and integrity",
  },
  {
    what: "exemption that waives suspension",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.exemptions[0].rules = ["agent.suspended"];
    },
    path: "spec.exemptions[0].rules",
    message: "exemptions cannot waive the gateway's presence and integrity",
  },
  {
    what: "expiresAt that is not an RFC 3339 time",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.exemptions[0].expiresAt = "next tuesday";
    },
    path: "spec.exemptions[0].expiresAt",
    message: "date-time",
  },
  {
    what: "requireTaskToken without taskTokenIssuers",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.requireTaskToken = true;
    },
    path: "spec.taskTokenIssuers",
    message: "requireTaskToken: true needs at least one taskTokenIssuers entry",
  },
  {
    what: "egress to a malformed CIDR",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.egress[0].cidr = "10.0.0.0/33";
    },
    path: "spec.egress[0].cidr",
    message: "must be a CIDR such as 10.20.0.0/16",
  },
  {
    what: "maxSvidTTL above 24h",
    kind: "AgentEnclave",
    mutate: (s) => {
      s.maxSvidTTL = "25h";
    },
    path: "spec.maxSvidTTL",
    message: "maxSvidTTL must be between 5m and 24h",
  },
  {
    what: "duplicate tool names",
    kind: "ToolManifest",
    mutate: (s) => {
      s.tools.push({ name: s.tools[0].name });
    },
    path: "spec.tools[2]",
    message: "Duplicate value",
  },
  {
    what: "endpoint that is not a URL",
    kind: "ToolManifest",
    mutate: (s) => {
      s.endpoint = "search-tools:8443";
    },
    path: "spec.endpoint",
    message: "endpoint must be an http(s) URL",
  },
  {
    what: "endpoint with a non-HTTP scheme",
    kind: "ToolManifest",
    mutate: (s) => {
      s.endpoint = "ftp://search-tools.agents.svc/mcp";
    },
    path: "spec.endpoint",
    message: "endpoint must be an http(s) URL",
  },
  {
    what: "argument constraint with minimum > maximum",
    kind: "ToolManifest",
    mutate: (s) => {
      s.tools[0].arguments[1].minimum = 50;
    },
    path: "spec.tools[0].arguments[1].maximum",
    message: "minimum must not exceed maximum",
  },
  {
    what: "malformed pinned digest",
    kind: "ToolManifest",
    mutate: (s) => {
      s.tools[0].digest = "sha256:XYZ";
    },
    path: "spec.tools[0].digest",
    message: "should match '^sha256:[a-f0-9]{64}$'",
  },
  {
    what: "mode other than Enforce or DryRun",
    kind: "ToolManifest",
    mutate: (s) => {
      s.mode = "Audit";
    },
    path: "spec.mode",
    message: 'supported values: "Enforce", "DryRun"',
  },
  {
    what: "server port out of range",
    kind: "ToolManifest",
    mutate: (s) => {
      s.server.port = 70000;
    },
    path: "spec.server.port",
    message: "less than or equal to 65535",
  },
  {
    what: "hostAllowlist entry with a scheme",
    kind: "ToolManifest",
    mutate: (s) => {
      s.tools[1].arguments[0].hostAllowlist = ["https://en.wikipedia.org"];
    },
    path: "spec.tools[1].arguments[0].hostAllowlist[0]",
    message: "should match",
  },
];

describe("invalid specs are refused by the API server with the field named", () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    ns = await createNamespace("crds-invalid");
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  const base = (kind: string): Obj => {
    const name = {
      AgentEnclave: "research-lab",
      AgentIdentity: "research-agent",
      ToolManifest: "search-tools",
    }[kind];
    const found = samples("placeholder").find((o) => o.kind === kind && o.metadata.name === name);
    if (!found) throw new Error(`no ${kind}/${name} sample`);
    return structuredClone(found);
  };

  it("has at least 12 distinct cases", () => {
    expect(new Set(INVALID.map((c) => c.what)).size).toBe(INVALID.length);
    expect(INVALID.length).toBeGreaterThanOrEqual(12);
  });

  it("each valid base object is accepted (so every refusal below is the mutation's doing)", async () => {
    for (const kind of ["AgentEnclave", "AgentIdentity", "ToolManifest"]) {
      const obj = base(kind);
      obj.metadata = { name: `valid-${kind.toLowerCase()}`, namespace: ns.name };
      await ok(["create", "--dry-run=server", "-f", "-"], toYaml([obj]));
    }
  });

  for (const [i, c] of INVALID.entries()) {
    it(`${c.kind}: ${c.what} → ${c.path || "object"}`, async () => {
      const obj = base(c.kind);
      const name = c.name ?? `invalid-${i}`;
      obj.metadata = { name, namespace: ns.name };
      c.mutate(obj.spec as Record<string, unknown>);
      const r = await kubectl(["create", "-f", "-"], { input: toYaml([obj]) });
      expect(r.code, `expected refusal, got: ${r.stdout}`).not.toBe(0);
      expect(r.stderr).toContain(`The ${c.kind} "${name}" is invalid`);
      if (c.path) expect(r.stderr).toContain(`${c.path}:`);
      if (typeof c.message === "string") expect(r.stderr).toContain(c.message);
      else expect(r.stderr).toMatch(c.message);
    });
  }
});
