import type * as k8s from "@kubernetes/client-node";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CompiledServer } from "../../api/v1alpha1/policy.ts";
import { credentialsCondition, projectCredentials, sameData } from "./credentials.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const server = (manifest: string, credential?: { secretName: string; key: string }): CompiledServer => ({
  manifest,
  endpoint: `https://${manifest}.team-a.svc:15443/mcp`,
  mode: "Enforce",
  tools: [],
  ...(credential ? { credential: { ...credential, header: "Authorization", scheme: "Bearer" } } : {}),
});

function secrets(byName: Record<string, Record<string, string>>) {
  const reads: string[] = [];
  const read = async (name: string): Promise<k8s.V1Secret | undefined> => {
    reads.push(name);
    const data = byName[name];
    return data ? { metadata: { name }, data } : undefined;
  };
  return { read, reads };
}

describe("projectCredentials", () => {
  it("copies each credentialed server's key under the ToolManifest's name, reading each Secret once", async () => {
    const s = secrets({ shared: { a: b64("tok-a"), b: b64("tok-b"), unrelated: b64("x") } });
    const p = await projectCredentials(
      [
        server("search", { secretName: "shared", key: "a" }),
        server("plain"),
        server("crm", { secretName: "shared", key: "b" }),
      ],
      s.read,
    );
    expect(p).toEqual({
      data: { crm: b64("tok-b"), search: b64("tok-a") },
      manifests: ["crm", "search"],
      missing: [],
    });
    expect(s.reads).toEqual(["shared"]);
  });

  const attacks: {
    name: string;
    servers: CompiledServer[];
    secrets: Record<string, Record<string, string>>;
    data: Record<string, string>;
    reasons: string[];
  }[] = [
    {
      name: "a Secret that does not exist is reported, nothing invented",
      servers: [server("search", { secretName: "nope", key: "token" })],
      secrets: {},
      data: {},
      reasons: ["SecretNotFound"],
    },
    {
      name: "a key the Secret lacks is reported",
      servers: [server("search", { secretName: "s", key: "token" })],
      secrets: { s: { other: b64("x") } },
      data: {},
      reasons: ["KeyNotFound"],
    },
    {
      name: "an empty value counts as missing (never an empty Authorization header)",
      servers: [server("search", { secretName: "s", key: "token" })],
      secrets: { s: { token: "" } },
      data: {},
      reasons: ["KeyNotFound"],
    },
    {
      name: "only the named key is copied, never the rest of the Secret",
      servers: [server("search", { secretName: "s", key: "token" })],
      secrets: { s: { token: b64("t"), "admin-password": b64("root") } },
      data: { search: b64("t") },
      reasons: [],
    },
    {
      name: "a manifest name that could escape the directory is refused",
      servers: [server("../etc", { secretName: "s", key: "token" })],
      secrets: { s: { token: b64("t") } },
      data: {},
      reasons: ["InvalidName"],
    },
    {
      name: "a refused identity (no servers in its policy) projects nothing",
      servers: [],
      secrets: { s: { token: b64("t") } },
      data: {},
      reasons: [],
    },
  ];
  it.each(attacks)("$name", async (a) => {
    const p = await projectCredentials(a.servers, secrets(a.secrets).read);
    expect(p.data).toEqual(a.data);
    expect(p.missing.map((m) => m.reason)).toEqual(a.reasons);
  });

  it("property: every projected key is a granted credentialed manifest, and every value its Secret's key", async () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(name, fc.boolean(), fc.boolean()), { selector: ([n]) => n, maxLength: 6 }),
        async (rows) => {
          const store: Record<string, Record<string, string>> = {};
          for (const [n, , exists] of rows) if (exists) store[`${n}-cred`] = { token: b64(`v-${n}`) };
          const p = await projectCredentials(
            rows.map(([n, credentialed]) =>
              credentialed ? server(n, { secretName: `${n}-cred`, key: "token" }) : server(n),
            ),
            secrets(store).read,
          );
          return (
            Object.entries(p.data).every(
              ([k, v]) => rows.some(([n, c, e]) => n === k && c && e) && v === b64(`v-${k}`),
            ) && p.missing.every((m) => !store[m.secretName])
          );
        },
      ),
    );
  });
});

describe("credentialsCondition", () => {
  it("is absent without credentialed servers, True when all are projected, False naming what is missing", async () => {
    expect(
      credentialsCondition({ data: {}, manifests: [], missing: [] }, "warden-credentials-bot"),
    ).toBeUndefined();
    expect(
      credentialsCondition(
        { data: { search: "x" }, manifests: ["search"], missing: [] },
        "warden-credentials-bot",
      ),
    ).toMatchObject({
      status: "True",
      reason: "Projected",
      message: expect.stringContaining("warden-credentials-bot"),
    });
    const p = await projectCredentials(
      [server("search", { secretName: "search-cred", key: "token" })],
      secrets({}).read,
    );
    expect(credentialsCondition(p, "warden-credentials-bot")).toEqual({
      type: "CredentialsReady",
      status: "False",
      reason: "SecretNotFound",
      message:
        "ToolManifest search: Secret search-cred does not exist. Calls to those servers are denied (CredentialUnavailable) until the credential exists; create the Secret or fix spec.credential.",
    });
  });
});

describe("sameData", () => {
  it("compares key for key", () => {
    expect(sameData({ a: "1", b: "2" }, { b: "2", a: "1" })).toBe(true);
    expect(sameData({ a: "1" }, { a: "1", b: "2" })).toBe(false);
    expect(sameData({ a: "1" }, { a: "2" })).toBe(false);
    expect(sameData(undefined, {})).toBe(true);
  });
});
