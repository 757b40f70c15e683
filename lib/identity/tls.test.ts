import { once } from "node:events";
import type { AddressInfo } from "node:net";
import type { PeerCertificate } from "node:tls";
import * as tls from "node:tls";
import * as fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { attackLeaf, byoCA, type LeafAttack } from "./attack-certs.ts";
import { parseWorkloadID } from "./spiffe-id.ts";
import { issueFor, testCA } from "./testing.ts";
import {
  checkSpiffeServer,
  PEER_REFUSALS,
  type PeerRefusal,
  PeerRefusedError,
  peerSpiffeID,
  spiffeIDOfPeerDER,
} from "./tls.ts";
import type { IssuedSVID } from "./x509-svid.ts";

// A real TLS 1.3 handshake between two issued SVIDs; each side checks the other's SPIFFE ID.
const SERVER = "spiffe://example.org/ns/tools/sa/search";
const CLIENT = "spiffe://example.org/ns/agents/sa/bot";
const ca = await testCA("example.org");
const servers: tls.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

type Cred = IssuedSVID & { keyPem: string };

async function serve(cred: Cred, bundlePem: string, allowClient: (id: string) => boolean) {
  const seen: (string | undefined)[] = [];
  const server = tls.createServer(
    {
      cert: cred.chainPem,
      key: cred.keyPem,
      ca: bundlePem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    },
    (socket) => {
      const id = peerSpiffeID(socket);
      seen.push(id);
      if (!id || !allowClient(id)) {
        socket.destroy();
        return;
      }
      socket.end("hello");
    },
  );
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, seen };
}

function connect(
  port: number,
  cred: Cred,
  bundlePem: string,
  allowServer: (id: string) => boolean,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      cert: cred.chainPem,
      key: cred.keyPem,
      ca: bundlePem,
      checkServerIdentity: checkSpiffeServer({ allow: allowServer }),
    });
    let data = "";
    socket.on("data", (d: Buffer) => {
      data += d.toString();
    });
    socket.on("end", () => resolve(data));
    socket.on("close", () => resolve(data));
    socket.on("error", reject);
  });
}

describe("mTLS between SVIDs", () => {
  it("succeeds when both chains verify and each side sees the SPIFFE ID it expects", async () => {
    const server = await issueFor(ca, SERVER);
    const client = await issueFor(ca, CLIENT);
    const s = await serve(server, ca.certPem, (id) => id === CLIENT);
    expect(await connect(s.port, client, ca.certPem, (id) => id === SERVER)).toBe("hello");
    expect(s.seen).toEqual([CLIENT]);
  });
  it("fails for a client certificate from another CA", async () => {
    const other = await testCA("example.org");
    const server = await issueFor(ca, SERVER);
    const intruder = await issueFor(other, CLIENT);
    const s = await serve(server, ca.certPem, (id) => id === CLIENT);
    const out = await connect(s.port, intruder, ca.certPem, (id) => id === SERVER).catch(
      (e: Error) => `error: ${e.message}`,
    );
    expect(out).not.toBe("hello");
    expect(s.seen).toEqual([]);
  });
  it("fails for a server certificate from another CA", async () => {
    const other = await testCA("example.org");
    const server = await issueFor(other, SERVER);
    const client = await issueFor(ca, CLIENT);
    const s = await serve(server, other.certPem, () => true);
    await expect(connect(s.port, client, ca.certPem, (id) => id === SERVER)).rejects.toThrow(/certificate/);
  });
  it("fails for a peer from another trust domain, even one the bundle trusts", async () => {
    const foreign = await testCA("other.org");
    const bundle = ca.certPem + foreign.certPem;
    const server = await issueFor(ca, SERVER);
    const client = await issueFor(foreign, "spiffe://other.org/ns/agents/sa/bot");
    const s = await serve(server, bundle, (id) => id.startsWith("spiffe://example.org/"));
    expect(await connect(s.port, client, bundle, (id) => id === SERVER)).toBe("");
    expect(s.seen).toEqual(["spiffe://other.org/ns/agents/sa/bot"]);
    // And the client refuses a server that presents another trust domain's ID.
    const foreignServer = await issueFor(foreign, "spiffe://other.org/ns/tools/sa/search");
    const s2 = await serve(foreignServer, bundle, () => true);
    await expect(connect(s2.port, await issueFor(ca, CLIENT), bundle, (id) => id === SERVER)).rejects.toThrow(
      /the server is spiffe:\/\/other\.org\/ns\/tools\/sa\/search, expected another SPIFFE ID/,
    );
  });
});

describe("peer certificates: the SVID profile on the DER (attack table)", () => {
  const TD = "example.org";
  const ID = `spiffe://${TD}/ns/agents/sa/bot`;
  const rows: { attack: LeafAttack; refusal: PeerRefusal }[] = [
    { attack: "dns-san-with-uri-text", refusal: "SubjectAltName" },
    { attack: "email-san-with-uri-text", refusal: "SubjectAltName" },
    { attack: "ca-true-leaf", refusal: "NotALeaf" },
    { attack: "key-cert-sign-leaf", refusal: "KeyUsage" },
    { attack: "crl-sign-leaf", refusal: "KeyUsage" },
    { attack: "no-digital-signature", refusal: "KeyUsage" },
    { attack: "no-key-usage", refusal: "KeyUsage" },
    { attack: "no-extended-key-usage", refusal: "ExtKeyUsage" },
    { attack: "two-san-extensions", refusal: "DuplicateExtension" },
    { attack: "two-uri-sans", refusal: "SubjectAltName" },
    { attack: "rsa-1024-key", refusal: "WeakKey" },
    { attack: "sha1-signature", refusal: "WeakSignature" },
    { attack: "unknown-critical-extension", refusal: "CriticalExtension" },
    { attack: "leaf-with-path-length", refusal: "NotALeaf" },
    { attack: "wrong-trust-domain", refusal: "TrustDomain" },
    { attack: "not-a-spiffe-uri", refusal: "SpiffeID" },
  ];
  const refusalOf = (fn: () => unknown): string => {
    try {
      fn();
      return "accepted";
    } catch (e) {
      expect(e).toBeInstanceOf(PeerRefusedError);
      return (e as PeerRefusedError).refusal;
    }
  };
  it("control: a valid leaf gives its SPIFFE ID, for either TLS role", async () => {
    const byo = await byoCA("byo");
    const leaf = await attackLeaf(byo, "valid", ID);
    for (const purpose of ["clientAuth", "serverAuth"] as const)
      expect(spiffeIDOfPeerDER(leaf.der, { trustDomain: TD, purpose })).toBe(ID);
  });
  for (const row of rows) {
    it(`refuses ${row.attack} as ${row.refusal}`, async () => {
      const leaf = await attackLeaf(await byoCA("byo"), row.attack, ID);
      expect(refusalOf(() => spiffeIDOfPeerDER(leaf.der, { trustDomain: TD, purpose: "clientAuth" }))).toBe(
        row.refusal,
      );
    });
  }
  it("refuses no certificate, and garbage DER, with bounded reasons", () => {
    expect(refusalOf(() => spiffeIDOfPeerDER(undefined, { purpose: "clientAuth" }))).toBe("NoCertificate");
    expect(
      refusalOf(() => spiffeIDOfPeerDER(new Uint8Array([0x30, 0x03, 1, 2, 3]), { purpose: "clientAuth" })),
    ).toBe("Malformed");
  });
  it("checkSpiffeServer: never reads Node's subjectaltname text, only the DER", async () => {
    const leaf = await attackLeaf(await byoCA("byo"), "dns-san-with-uri-text", ID);
    // What Node reports for this certificate: the text an old regex parser read the ID from.
    const fake = {
      raw: Buffer.from(leaf.der),
      subjectaltname: `DNS:URI:${ID}`,
    } as unknown as PeerCertificate;
    const err = checkSpiffeServer({ trustDomain: TD, allow: () => true })("127.0.0.1", fake);
    expect(err?.refusal).toBe("SubjectAltName");
  });
  it("every refusal is one of PEER_REFUSALS (bounded metric labels)", () => {
    for (const r of rows) expect(PEER_REFUSALS).toContain(r.refusal);
  });
});

describe("peer certificates: SPIFFE IDs in SANs (property)", () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== "." && s !== "..");
  const workloadID = fc
    .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/), fc.array(segment, { minLength: 1, maxLength: 4 }))
    .map(([td, segs]) => `spiffe://${td}/${segs.join("/")}`);
  it("a valid workload ID in the URI SAN is read back exactly; the same text in a DNS SAN never is", async () => {
    const byo = await byoCA("byo");
    await fc.assert(
      fc.asyncProperty(workloadID, async (id) => {
        const good = await attackLeaf(byo, "valid", id);
        expect(spiffeIDOfPeerDER(good.der, { purpose: "serverAuth" })).toBe(id);
        const spoof = await attackLeaf(byo, "dns-san-with-uri-text", id);
        expect(() => spiffeIDOfPeerDER(spoof.der, { purpose: "serverAuth" })).toThrow(PeerRefusedError);
      }),
      { numRuns: 25 },
    );
  });
  it("any string that is not a valid workload SPIFFE ID in the URI SAN is refused as SpiffeID", async () => {
    const byo = await byoCA("byo");
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 40 }).map((s) => `spiffe://example.org/${s}`),
          fc.string({ maxLength: 40 }),
        ),
        async (uri) => {
          let valid = true;
          try {
            parseWorkloadID(uri);
          } catch {
            valid = false;
          }
          fc.pre(!valid);
          let leaf: Awaited<ReturnType<typeof attackLeaf>>;
          try {
            leaf = await attackLeaf(byo, "valid", uri);
          } catch {
            return; // not encodable as an IA5String URI at all
          }
          let refusal = "accepted";
          try {
            spiffeIDOfPeerDER(leaf.der, { purpose: "serverAuth" });
          } catch (e) {
            refusal = (e as PeerRefusedError).refusal;
          }
          expect(["SpiffeID", "Malformed", "SubjectAltName"]).toContain(refusal);
        },
      ),
      { numRuns: 40 },
    );
  });
});
