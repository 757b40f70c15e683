// `warden check` and the API server agree on warden objects: every row of the CRD attack table
// (test/fixtures/crd-cases.ts), and strings generated around the grammars the CEL rules and
// patterns judge, are sent to the real kube-apiserver (dry-run, strict field validation, as
// `kubectl apply` sends them) and through `warden check`; verdicts and field paths must be equal.
import * as k8s from "@kubernetes/client-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as wardenCheck } from "../../cli/commands/check.ts";
import { baseObject, CRD_CASES, type Obj, type WardenKind } from "../fixtures/crd-cases.ts";
import { createNamespace, kubeConfig } from "../support/kube.ts";

const PLURAL: Record<WardenKind, string> = {
  AgentEnclave: "agentenclaves",
  AgentIdentity: "agentidentities",
  ToolManifest: "toolmanifests",
};

interface Verdict {
  refused: boolean;
  paths: string[];
}

let custom: k8s.CustomObjectsApi;
let ns: { name: string; cleanup: () => Promise<void> };

/** The API server's verdict on creating `o` (dry run, fieldValidation=Strict as kubectl sends). */
async function apiVerdict(o: Obj): Promise<Verdict & { raw: string }> {
  try {
    await custom.createNamespacedCustomObject({
      group: "warden.dev",
      version: "v1alpha1",
      namespace: ns.name,
      plural: PLURAL[o.kind as WardenKind],
      body: o,
      dryRun: "All",
      fieldValidation: "Strict",
    });
    return { refused: false, paths: [], raw: "" };
  } catch (e) {
    const body = (e as { body?: string }).body;
    const status = JSON.parse(typeof body === "string" ? body : "{}") as {
      code?: number;
      message?: string;
      details?: { causes?: { field?: string; message?: string }[] };
    };
    if (status.code !== 422 && status.code !== 400) throw e;
    const message = status.message ?? "";
    // Strict decoding errors name the unknown fields in the message, not in causes.
    const unknown = [...message.matchAll(/unknown field "([^"]+)"/g)].map((m) => m[1]!);
    const causes = (status.details?.causes ?? []).map((c) => (c.field === "<nil>" ? "" : (c.field ?? "")));
    return { refused: true, paths: (unknown.length ? unknown : causes).sort(), raw: message };
  }
}

/** `warden check -o json`'s verdict on `o`: its crd.* findings. */
async function cliVerdict(o: Obj): Promise<Verdict> {
  let stdout = "";
  const code = await wardenCheck(["-n", ns.name, "-o", "json", "-"], {
    stdout: (s) => {
      stdout += s;
    },
    stderr: () => {},
    readStdin: () => JSON.stringify(o),
  });
  const findings = (JSON.parse(stdout) as { findings: { rule: string; path: string }[] }).findings.filter(
    (f) => f.rule.startsWith("crd."),
  );
  expect(code === 2, "warden check could not read the object").toBe(false);
  return { refused: findings.length > 0, paths: findings.map((f) => f.path).sort() };
}

async function expectSameVerdict(o: Obj, label: string) {
  const api = await apiVerdict(o);
  const cli = await cliVerdict(o);
  expect({ refused: cli.refused, paths: cli.paths }, `${label}\nAPI server said: ${api.raw}`).toEqual({
    refused: api.refused,
    paths: api.paths,
  });
  return api;
}

beforeAll(async () => {
  custom = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  ns = await createNamespace("crd-parity");
});
afterAll(async () => {
  await ns?.cleanup();
});

describe("warden check and the API server give the same verdict on each attack row", () => {
  for (const [i, c] of CRD_CASES.entries()) {
    it(`${c.kind}: ${c.what}`, async () => {
      const o = baseObject(c.kind, `case-${i}`, ns.name);
      c.mutate(o);
      const api = await expectSameVerdict(o, c.what);
      // The table's expectation is the API server's, too (so the table documents real behaviour).
      expect(api.paths).toEqual([...c.paths].sort());
    });
  }
});

// Strings near each grammar: mostly almost-valid values, where parsers disagree if they do.
const durationLike = fc
  .array(
    fc.oneof(
      fc.constantFrom("0", "1", "5", "15", "24", "299", "300", "86400", "1.5", ".5", "5.", "-1", "+5"),
      fc.constantFrom("ns", "us", "µs", "ms", "s", "m", "h", "d", " ", "", "M", "H"),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((parts) => parts.join(""));
const cidrLike = fc
  .tuple(
    fc.constantFrom(
      "10.0.0.0",
      "10.00.0.0",
      "10.0.0",
      "256.0.0.0",
      "::",
      "::1",
      "2001:db8::",
      "::ffff:1.2.3.4",
      "fe80::1%eth0",
      "1.2.3.4.5",
      "",
    ),
    fc.constantFrom("/0", "/8", "/08", "/32", "/33", "/128", "/129", "/", "", "/+8", "/-1", "/ 8"),
  )
  .map(([a, b]) => a + b);
const urlLike = fc
  .tuple(
    fc.constantFrom("https://", "http://", "HTTPS://", "ftp://", "https:", "https:///", "//", "", "h ttp://"),
    fc.constantFrom(
      "search",
      "search.svc",
      "[::1]",
      "[1.2.3.4]",
      "a:b:c",
      "user@host",
      "ho st",
      "%41",
      "",
      "x%2Fy",
    ),
    fc.constantFrom("", ":8443", ":", ":x", ":65536"),
    fc.constantFrom("/mcp", "", "/%zz", "?q=1", "#frag", "/a b"),
  )
  .map((p) => p.join(""));

describe("generated strings: warden check and the API server agree", () => {
  const runs = { numRuns: 25, seed: 20261206 };
  it("svid.ttl (pattern + duration() CEL rule)", async () => {
    await fc.assert(
      fc.asyncProperty(durationLike, async (ttl) => {
        const o = baseObject("AgentIdentity", "gen-ttl", ns.name);
        o.spec.svid = { ttl };
        await expectSameVerdict(o, `svid.ttl ${JSON.stringify(ttl)}`);
      }),
      runs,
    );
  });
  it("egress cidr (isCIDR)", async () => {
    await fc.assert(
      fc.asyncProperty(cidrLike, async (cidr) => {
        const o = baseObject("AgentEnclave", "gen-cidr", ns.name);
        o.spec.egress[0].cidr = cidr;
        await expectSameVerdict(o, `cidr ${JSON.stringify(cidr)}`);
      }),
      runs,
    );
  });
  it("ToolManifest endpoint (isURL, url().getScheme(), getHostname())", async () => {
    await fc.assert(
      fc.asyncProperty(urlLike, async (endpoint) => {
        const o = baseObject("ToolManifest", "gen-url", ns.name);
        o.spec.endpoint = endpoint;
        await expectSameVerdict(o, `endpoint ${JSON.stringify(endpoint)}`);
      }),
      runs,
    );
  });
});
