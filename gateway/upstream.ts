// mTLS clients for calling tool servers with the agent's SVID. One undici Agent per expected
// server SPIFFE ID (the identity check is part of the connection options); all are rebuilt when
// the SVID rotates or the trust bundle changes, and the old ones are closed once idle.
import type { PeerCertificate } from "node:tls";
import { Agent } from "undici";
import type { Svid } from "./svid/source.ts";

export function peerSpiffeID(cert: PeerCertificate | undefined): string | undefined {
  const uris = [...(cert?.subjectaltname ?? "").matchAll(/URI:([^,\s]+)/g)].map((m) => m[1]!);
  return uris.length === 1 && uris[0]!.startsWith("spiffe://") ? uris[0] : undefined;
}

/**
 * The server-identity check for SPIFFE mTLS: hostnames mean nothing, the peer's SPIFFE ID does.
 * With an expected ID it must match exactly; without one it must at least be in our trust domain.
 */
export function serverIdentityCheck(expected: string | undefined, trustDomain: string | undefined) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const id = peerSpiffeID(cert);
    if (!id) return new Error("the tool server's certificate has no single SPIFFE ID");
    if (expected !== undefined && id !== expected)
      return new Error(`the tool server is ${id}, expected ${expected}`);
    if (expected === undefined && trustDomain && !id.startsWith(`spiffe://${trustDomain}/`)) {
      return new Error(`the tool server ${id} is outside trust domain ${trustDomain}`);
    }
    return undefined;
  };
}

export class UpstreamClients {
  #agents = new Map<string, Agent>();
  #svid: Svid | undefined;
  #bundlePem = "";
  readonly #trustDomain: string | undefined;
  readonly #timeoutMs: number;

  constructor(trustDomain: string | undefined, timeoutMs: number) {
    this.#trustDomain = trustDomain;
    this.#timeoutMs = timeoutMs;
  }

  /** New credentials: later requests use fresh connections; in-flight ones finish on the old. */
  update(svid: Svid | undefined, bundlePem: string): void {
    if (svid === this.#svid && bundlePem === this.#bundlePem) return;
    this.#svid = svid;
    this.#bundlePem = bundlePem;
    const old = this.#agents;
    this.#agents = new Map();
    for (const a of old.values()) void a.close().catch(() => {});
  }

  /** The dispatcher for a server, or undefined when there is no SVID or bundle to use. */
  get(serverSpiffeID: string | undefined): Agent | undefined {
    if (!this.#svid || !this.#bundlePem) return undefined;
    const key = serverSpiffeID ?? "";
    let a = this.#agents.get(key);
    if (!a) {
      a = new Agent({
        connect: {
          cert: this.#svid.certChainPem,
          key: this.#svid.keyPem,
          ca: this.#bundlePem,
          minVersion: "TLSv1.2",
          rejectUnauthorized: true,
          checkServerIdentity: serverIdentityCheck(serverSpiffeID, this.#trustDomain),
        },
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        keepAliveTimeout: 30_000,
      });
      this.#agents.set(key, a);
    }
    return a;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((a) => a.close().catch(() => {})));
    this.#agents.clear();
  }
}
