// The samples in manifests/samples are what users copy first: they must pass the same zod schemas
// the operator parses with (the API-server side is test/integration/crds.test.ts).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { agentEnclave } from "./enclave.ts";
import { agentIdentity } from "./identity.ts";
import { toolManifest } from "./toolmanifest.ts";

const SAMPLES = join(import.meta.dirname, "..", "..", "manifests", "samples");
const schemas = { AgentEnclave: agentEnclave, AgentIdentity: agentIdentity, ToolManifest: toolManifest };

function samples(): { file: string; doc: Record<string, unknown> }[] {
  return readdirSync(SAMPLES)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(SAMPLES, file), "utf8")).map((d) => ({
        file,
        doc: d.toJS() as Record<string, unknown>,
      })),
    );
}

describe("manifests/samples", () => {
  it("holds one enclave, two tool manifests and two agent identities in agents-demo", () => {
    const kinds = samples().map((s) => s.doc.kind);
    expect(kinds.filter((k) => k === "AgentEnclave")).toHaveLength(1);
    expect(kinds.filter((k) => k === "ToolManifest")).toHaveLength(2);
    expect(kinds.filter((k) => k === "AgentIdentity")).toHaveLength(2);
    expect(kinds).toContain("Namespace");
    for (const { doc } of samples()) {
      const meta = doc.metadata as { name: string; namespace?: string };
      expect(doc.kind === "Namespace" ? meta.name : meta.namespace).toBe("agents-demo");
    }
  });

  for (const { file, doc } of samples()) {
    const schema = schemas[doc.kind as keyof typeof schemas];
    if (!schema) continue;
    it(`${file}: ${doc.kind} ${(doc.metadata as { name: string }).name} parses with the zod schema`, () => {
      const result = schema.safeParse(doc);
      expect(result.error?.issues ?? []).toEqual([]);
    });
  }

  it("every granted tool is offered by its manifest and every manifest is a tool server of the enclave", () => {
    const all = samples().map((s) => s.doc);
    const manifests = all.filter((d) => d.kind === "ToolManifest").map((d) => toolManifest.parse(d));
    const enclave = agentEnclave.parse(all.find((d) => d.kind === "AgentEnclave"));
    for (const d of all.filter((x) => x.kind === "AgentIdentity")) {
      const identity = agentIdentity.parse(d);
      expect(identity.spec.enclave).toBe(enclave.metadata.name);
      expect(identity.spec.sponsor, "the enclave requires a sponsor").toBeDefined();
      for (const grant of identity.spec.grants ?? []) {
        expect(enclave.spec.toolServers).toContain(grant.manifest.name);
        const manifest = manifests.find((m) => m.metadata.name === grant.manifest.name);
        expect(manifest, grant.manifest.name).toBeDefined();
        for (const tool of grant.tools) expect(manifest!.spec.tools.map((t) => t.name)).toContain(tool.name);
      }
    }
  });

  it("applies the schema defaults the API server applies (svid.ttl 15m, delivery Issuer)", () => {
    const research = samples().find((s) => (s.doc.metadata as { name: string }).name === "research-agent");
    const parsed = agentIdentity.parse(research!.doc);
    expect(parsed.spec.svid).toEqual({ ttl: "15m", delivery: "Issuer" });
    expect(parsed.spec.suspended).toBe(false);
  });
});
