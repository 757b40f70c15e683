// The workload side of identity delivery (used by the gateway sidecar): make a P-256 key in memory
// (a new one per renewal), send a CSR with the projected ServiceAccount token (re-read every time:
// the kubelet rotates it), verify what comes back, renew at half-life ±10%, retry with capped
// exponential backoff — past expiry too — and report ready only while a valid SVID is held.
// The renewal point is a fraction of the lifetime (default half-life, chart value svid.renewAt).
//
// It runs inside the gateway sidecar, so it uses no ASN.1 library: keys from node:crypto, the CSR
// from csr-create.ts, certificates read by certificate.ts (OpenSSL plus the DER reader).
import { generateKeyPair } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as https from "node:https";
import { promisify } from "node:util";
import { DeniedError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseBundlePem } from "./bundle-pem.ts";
import { certificatesFromPem } from "./certificate.ts";
import { createCSR } from "./csr-create.ts";
import { parseWorkloadID } from "./spiffe-id.ts";
import { verifyX509SVID } from "./x509-svid-verify.ts";

const generateKeyPairAsync = promisify(generateKeyPair);

export interface CurrentSVID {
  certChainPem: string;
  keyPem: string;
  bundlePem: string;
  spiffeID: string;
  notAfter: Date;
  serial: string;
}

/** What the issuer answers to POST /v1/x509-svid (see operator/identity/issuer-api.ts). */
export interface X509Answer {
  spiffeID: string;
  certChainPem: string;
  /** The issuer's view of the bundle: informational only, never trusted to verify the answer. */
  bundlePem: string;
  serial: string;
  notAfter: string;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface SvidClientOptions {
  /** The SPIFFE ID this workload must receive; when omitted any ID in trustDomain, fixed after the first. */
  expectedID?: string;
  trustDomain: string;
  /** Reads the projected token; called before every request. */
  readToken: () => Promise<string>;
  /**
   * The trust bundle (PEM) this workload already holds — the mounted bundle ConfigMap, read fresh
   * before every request. A new SVID is verified against it, never against the bundle carried in
   * the same answer (an answer cannot vouch for itself).
   */
  trustBundle: () => Promise<string>;
  /** POSTs a CSR to the issuer; the default is HTTPS (httpsTransport). */
  requestSVID: (csrPem: string, token: string) => Promise<X509Answer>;
  clock?: Clock;
  random?: () => number;
  backoff?: { initialMs: number; maxMs: number };
  /** Fraction of the lifetime after which to renew, 0.1–0.9 (default 0.5); ±10% jitter is added. */
  renewAt?: number;
  log?: Logger;
}

export const DEFAULT_RENEW_AT = 0.5;
export const MIN_RENEW_AT = 0.1;
export const MAX_RENEW_AT = 0.9;

/**
 * Renew at `renewAt` of the lifetime ±10% of the lifetime (jitter, so replicas of one agent do not
 * renew in lock-step), kept within 5%–95%: even at renewAt 0.9 some life is left for retries.
 */
export function renewDelayMs(
  lifetimeMs: number,
  random: () => number,
  renewAt: number = DEFAULT_RENEW_AT,
): number {
  const fraction = Math.min(0.95, Math.max(0.05, renewAt + (random() * 2 - 1) * 0.1));
  return Math.max(0, lifetimeMs * fraction);
}

/** Throws unless `renewAt` is a fraction the renewal schedule supports (0.1–0.9). */
export function checkRenewAt(renewAt: number, field = "renewAt"): number {
  if (!(Number.isFinite(renewAt) && renewAt >= MIN_RENEW_AT && renewAt <= MAX_RENEW_AT)) {
    throw new RangeError(
      `${field} must be a fraction of the SVID lifetime from ${MIN_RENEW_AT} to ${MAX_RENEW_AT}, got ${renewAt}`,
    );
  }
  return renewAt;
}

/** Exponential backoff with full jitter in [d/2, d], capped. */
export function backoffMs(
  attempt: number,
  b: { initialMs: number; maxMs: number },
  random: () => number,
): number {
  const d = Math.min(b.maxMs, b.initialMs * 2 ** attempt);
  return d / 2 + (random() * d) / 2;
}

export class SvidClient {
  readonly #o: Required<Omit<SvidClientOptions, "expectedID" | "log">> &
    Pick<SvidClientOptions, "expectedID" | "log">;
  #current: CurrentSVID | undefined;
  #timer: unknown;
  #attempt = 0;
  #stopped = false;
  #inflight: Promise<void> | undefined;
  #listeners: ((svid: CurrentSVID) => void)[] = [];
  #lastError: Error | undefined;
  #expectedID: string | undefined;

  constructor(opts: SvidClientOptions) {
    this.#o = {
      clock: realClock,
      random: Math.random,
      backoff: { initialMs: 1000, maxMs: 30_000 },
      ...opts,
      renewAt: checkRenewAt(opts.renewAt ?? DEFAULT_RENEW_AT),
    };
    this.#expectedID = opts.expectedID;
    if (opts.expectedID) parseWorkloadID(opts.expectedID);
  }

  /** Starts fetching; resolves after the first attempt (successful or not — see ready()). */
  start(): Promise<void> {
    return this.#fetch();
  }

  ready(): boolean {
    return this.#current !== undefined && this.#o.clock.now() < this.#current.notAfter.getTime();
  }

  secondsLeft(): number {
    if (!this.#current) return 0;
    return Math.max(0, Math.floor((this.#current.notAfter.getTime() - this.#o.clock.now()) / 1000));
  }

  /** The SVID held now, or undefined when none or expired (never hand out an expired SVID). */
  current(): CurrentSVID | undefined {
    return this.ready() ? this.#current : undefined;
  }

  /** Resolves when no request is in flight (tests and shutdown). */
  async idle(): Promise<void> {
    await this.#inflight?.catch(() => undefined);
  }

  lastError(): Error | undefined {
    return this.#lastError;
  }

  onUpdate(cb: (svid: CurrentSVID) => void): () => void {
    this.#listeners.push(cb);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== cb);
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.clock.clearTimeout(this.#timer);
    await this.#inflight?.catch(() => undefined);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = this.#o.clock.setTimeout(() => void this.#fetch(), ms);
  }

  #fetch(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    this.#inflight = this.#attemptOnce().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #attemptOnce(): Promise<void> {
    if (this.#stopped) return;
    try {
      const started = this.#o.clock.now();
      const svid = await this.#obtain();
      if (this.#stopped) return;
      this.#current = svid;
      this.#attempt = 0;
      this.#lastError = undefined;
      const lifetime = svid.notAfter.getTime() - this.#o.clock.now();
      this.#schedule(renewDelayMs(lifetime, this.#o.random, this.#o.renewAt));
      for (const cb of this.#listeners) cb(svid);
      this.#o.log?.info("obtained X.509-SVID", {
        spiffeID: svid.spiffeID,
        serial: svid.serial,
        notAfter: svid.notAfter.toISOString(),
        // Key, CSR, the issuer's round trip (DNS and TLS included) and the chain check.
        tookMs: Math.round(this.#o.clock.now() - started),
      });
    } catch (err) {
      this.#lastError = err as Error;
      const delay = backoffMs(this.#attempt++, this.#o.backoff, this.#o.random);
      this.#o.log?.warn("SVID request failed; retrying", {
        err,
        retryInMs: Math.round(delay),
        secondsLeft: this.secondsLeft(),
      });
      this.#schedule(delay);
    }
  }

  async #obtain(): Promise<CurrentSVID> {
    const keys = await generateKeyPairAsync("ec", { namedCurve: "P-256" });
    const token = (await this.#o.readToken()).trim();
    // Without a known ID the CSR asks for no SAN; the answer is then checked against the trust domain.
    const spiffeID = this.#expectedID;
    const csrPem = await createCSR(keys, spiffeID);
    const answer = await this.#o.requestSVID(csrPem, token);
    const chain = certificatesFromPem(answer.certChainPem);
    const trustedPem = await this.#o.trustBundle();
    const bundle = parseBundlePem(trustedPem, "the mounted trust bundle");
    const verified = await verifyX509SVID({
      chain,
      bundle,
      trustDomain: this.#o.trustDomain,
      expectedID: spiffeID,
      now: new Date(this.#o.clock.now()),
    });
    // The leaf must certify the key we just made, not some other key.
    const ours = keys.publicKey.export({ type: "spki", format: "der" });
    if (!ours.equals(chain[0]!.spki)) {
      throw new DeniedError("SVIDKeyMismatch", "the issuer returned a certificate for another key");
    }
    this.#expectedID ??= verified.spiffeID;
    return {
      certChainPem: answer.certChainPem,
      keyPem: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      bundlePem: trustedPem,
      spiffeID: verified.spiffeID,
      notAfter: verified.notAfter,
      serial: verified.serial,
    };
  }
}

/** Reads a token file fresh on each call (the kubelet rewrites it before it expires). */
export function tokenFromFile(path: string): () => Promise<string> {
  return async () => (await readFile(path, "utf8")).trim();
}

export class IssuerRequestError extends Error {
  override name = "IssuerRequestError";
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(`issuer refused (${status} ${reason}): ${message}`);
    this.status = status;
    this.reason = reason;
  }
}

/**
 * POSTs JSON to the issuer over HTTPS, verifying the issuer with the trust bundle read fresh from
 * `bundle()` (the mounted ConfigMap, which the kubelet updates during a CA rotation).
 */
export function httpsTransport(opts: {
  issuerURL: string;
  bundle: () => Promise<string>;
  timeoutMs?: number;
}) {
  const post = async <T>(path: string, body: unknown, token: string): Promise<T> => {
    const ca = await opts.bundle();
    const url = new URL(path, opts.issuerURL);
    const payload = JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(
        url,
        {
          method: "POST",
          ca,
          minVersion: "TLSv1.2",
          timeout: opts.timeoutMs ?? 10_000,
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${token}`,
            "content-length": Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > 1024 * 1024) req.destroy(new Error("issuer response too large"));
            else chunks.push(c);
          });
          res.on("end", () => {
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
              return reject(
                new IssuerRequestError(res.statusCode ?? 0, "BadResponse", "the issuer's answer is not JSON"),
              );
            }
            if (res.statusCode !== 200) {
              const e = json as { error?: string; message?: string };
              return reject(
                new IssuerRequestError(res.statusCode ?? 0, e.error ?? "Unknown", e.message ?? ""),
              );
            }
            resolve(json as T);
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("issuer request timed out")));
      req.on("error", reject);
      req.end(payload);
    });
  };
  return {
    x509: (csrPem: string, token: string) => post<X509Answer>("/v1/x509-svid", { csr: csrPem }, token),
    jwt: (audience: string | string[], token: string) =>
      post<{ spiffeID: string; token: string; expiresAt: string }>("/v1/jwt-svid", { audience }, token),
  };
}
