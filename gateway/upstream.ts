// mTLS clients for calling tool servers with the agent's SVID. One undici Agent per expected
// server SPIFFE ID (the identity check is part of the connection options); all are rebuilt when
// the SVID rotates or the trust bundle changes; the old ones keep serving for a grace period
// (RETIRED_AGENT_GRACE_MS), then close once idle. The server
// is checked by lib/identity/tls.ts: chain by OpenSSL, then the X.509-SVID profile on its DER.
import { createSecureContext } from "node:tls";
import { Agent, buildConnector } from "undici";
import { checkSpiffeServer, PeerRefusedError, peerRefusalOf } from "../lib/identity/tls.ts";
import type { Svid } from "./svid/source.ts";

/** Told about every tool server refused at the TLS level (chain, SVID profile, or wrong ID). */
export type OnPeerRefused = (refusal: PeerRefusedError, server: string | undefined) => void;

/**
 * The server-identity check for SPIFFE mTLS: hostnames mean nothing, the peer's SVID does. The
 * certificate must pass the X.509-SVID profile as a TLS server and be in our trust domain; with an
 * expected ID it must be exactly that one.
 */
export function serverIdentityCheck(expected: string | undefined, trustDomain: string | undefined) {
  return checkSpiffeServer({
    trustDomain,
    allow: (id) => expected === undefined || id === expected,
    describeExpected: expected,
  });
}

/**
 * How long a replaced Agent keeps accepting requests. A call takes its dispatcher before it is
 * forwarded and may wait in between (definition verification, a rate limiter): closing the old
 * Agent at once made such calls fail with undici's "The client is closed" when the SVID rotated
 * under load (found by the e2e tier on a real node). After the grace it closes gracefully:
 * requests already on it finish.
 */
export const RETIRED_AGENT_GRACE_MS = 30_000;

export class UpstreamClients {
  #agents = new Map<string, Agent>();
  /** Replaced Agents and their close timers, until they are closed. */
  readonly #retired = new Map<Agent, NodeJS.Timeout>();
  #svid: Svid | undefined;
  #bundlePem = "";
  readonly #trustDomain: string | undefined;
  readonly #timeoutMs: number;
  readonly #onRefused: OnPeerRefused;

  readonly #retireGraceMs: number;

  constructor(
    trustDomain: string | undefined,
    timeoutMs: number,
    onRefused: OnPeerRefused = () => {},
    retireGraceMs = RETIRED_AGENT_GRACE_MS,
  ) {
    this.#trustDomain = trustDomain;
    this.#timeoutMs = timeoutMs;
    this.#onRefused = onRefused;
    this.#retireGraceMs = retireGraceMs;
  }

  /** New credentials: later requests use fresh connections; in-flight ones finish on the old. */
  update(svid: Svid | undefined, bundlePem: string): void {
    if (svid === this.#svid && bundlePem === this.#bundlePem) return;
    this.#svid = svid;
    this.#bundlePem = bundlePem;
    const old = this.#agents;
    this.#agents = new Map();
    for (const a of old.values()) this.#retire(a);
  }

  #retire(a: Agent): void {
    const timer = setTimeout(() => {
      this.#retired.delete(a);
      void a.close().catch(() => {});
    }, this.#retireGraceMs);
    timer.unref();
    this.#retired.set(a, timer);
  }

  /** The dispatcher for a server, or undefined when there is no SVID or bundle to use. */
  get(serverSpiffeID: string | undefined): Agent | undefined {
    if (!this.#svid || !this.#bundlePem) return undefined;
    const key = serverSpiffeID ?? "";
    let a = this.#agents.get(key);
    if (!a) {
      const svid = this.#svid;
      const bundlePem = this.#bundlePem;
      // Made on the first connection (a bad key or bundle fails that connection, as before), then
      // one TLS context shared by every connection of this Agent: given the PEM texts instead,
      // Node parses the key, the chain and the bundle into a new OpenSSL context per connection
      // (CPU, and malloc'd memory that glibc keeps after the load).
      let connector: buildConnector.connector | undefined;
      const connect: buildConnector.connector = (opts, cb) => {
        try {
          connector ??= buildConnector({
            secureContext: createSecureContext({
              cert: svid.certChainPem,
              key: svid.keyPem,
              ca: bundlePem,
              minVersion: "TLSv1.2",
            }),
            rejectUnauthorized: true,
            checkServerIdentity: serverIdentityCheck(serverSpiffeID, this.#trustDomain),
            // No TLS session resumption: Node skips checkServerIdentity on a resumed session, and
            // the SVID profile check must run on every connection.
            maxCachedSessions: 0,
          });
        } catch (err) {
          cb(err as Error, null);
          return;
        }
        connector(opts, cb);
      };
      a = new Agent({
        // Refusals of the server's certificate are told to onRefused (metric, log) before undici
        // reports the connection error to the caller, which audits the call it failed.
        connect: (opts, cb) =>
          connect(opts, (err, socket) => {
            const refusal = err ? peerRefusalOf(err) : undefined;
            if (refusal) {
              this.#onRefused(refusal, serverSpiffeID);
              // The caller audits this message with the call: it names the bounded reason.
              cb(
                new PeerRefusedError(
                  refusal.refusal,
                  `TLS peer refused (${refusal.refusal}): ${refusal.message}`,
                ),
                null,
              );
            } else if (err) cb(err, null);
            else cb(null, socket!);
          }),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        keepAliveTimeout: 30_000,
      });
      this.#agents.set(key, a);
    }
    return a;
  }

  async close(): Promise<void> {
    for (const t of this.#retired.values()) clearTimeout(t);
    const all = [...this.#agents.values(), ...this.#retired.keys()];
    this.#retired.clear();
    this.#agents.clear();
    await Promise.all(all.map((a) => a.close().catch(() => {})));
  }
}
