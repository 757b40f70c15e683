// The SVID issuer: HTTPS (TLS ≥ 1.2, a serving cert from the active CA), served by every replica.
//   POST /v1/x509-svid  {csr}       Authorization: Bearer <projected SA token, issuer audience>
//   POST /v1/jwt-svid   {audience}  (same)
//   GET  /v1/bundle                 PEM + SPIFFE bundle
//   GET  /healthz
// Order of checks: token (401; 429 AuthFailuresRateLimited when one source keeps failing) →
// pod/identity (403) → body (400) → per-identity rate (429) → sign.
// Every refusal is JSON {error, message} and counted by reason (no per-agent labels).
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { DeniedError, UnavailableError, ValidationError, zodIssues } from "../../lib/errors.ts";
import { BodyTooLarge, readBodyBytes } from "../../lib/http-body.ts";
import { signJWTSVID } from "../../lib/identity/jwt-svid.ts";
import { issueServingCert } from "../../lib/identity/serving-cert.ts";
import { signX509SVIDFromCSR } from "../../lib/identity/x509-svid.ts";
import type { Logger } from "../../lib/log.ts";
import type { KeyedTokenBuckets } from "../../lib/token-bucket.ts";
import { AUTHN_REASONS, type TokenIdentity } from "./authn.ts";
import type { Authority } from "./authority.ts";
import type { WorkloadGrant } from "./authz.ts";
import {
  type BundleResponse,
  type ErrorResponse,
  ISSUER_PATHS,
  type JWTResponse,
  jwtRequest,
  MAX_BODY_BYTES,
  type X509Response,
  x509Request,
} from "./issuer-api.ts";
import type { IdentityMetrics } from "./metrics.ts";
import { RateLimitedError } from "./rate-limit.ts";

export interface IssuerServerDeps {
  authority: Authority;
  /** `source` is the caller's address (failed authentications are rate limited per source). */
  authenticate(token: string, source: string): Promise<TokenIdentity>;
  authorize(tok: TokenIdentity): Promise<WorkloadGrant>;
  rateLimit: KeyedTokenBuckets;
  metrics: IdentityMetrics;
  log: Logger;
  /** Told about every X.509-SVID issued to an AgentIdentity (status.lastIssued). */
  onIssued?(grant: WorkloadGrant, issued: { serial: string; notAfter: Date; issuedAt: Date }): void;
  /** Names in the serving certificate besides localhost/127.0.0.1 (e.g. the Service's DNS names). */
  servingDNSNames?: string[];
  servingTTLms?: number;
  now?: () => Date;
}

export interface IssuerServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startIssuerServer(
  deps: IssuerServerDeps,
  listen: { host: string; port: number },
): Promise<IssuerServer> {
  const log = deps.log.child({ part: "issuer" });
  const now = deps.now ?? (() => new Date());
  const servingTTL = deps.servingTTLms ?? 24 * 3600_000;
  const dnsNames = ["localhost", ...(deps.servingDNSNames ?? [])];
  const ipAddresses = [
    "127.0.0.1",
    ...(listen.host !== "127.0.0.1" && /^[0-9.]+$/.test(listen.host) ? [listen.host] : []),
  ];

  const makeServing = () =>
    issueServingCert({
      ca: deps.authority.signer().ca,
      dnsNames,
      ipAddresses,
      ttlMs: servingTTL,
      now: now(),
    });
  let serving = await makeServing();
  const server = https.createServer(
    {
      cert: serving.certChainPem,
      key: serving.keyPem,
      minVersion: "TLSv1.2",
      requestTimeout: 10_000,
      headersTimeout: 5_000,
    },
    (req, res) => void handle(req, res),
  );
  server.maxHeadersCount = 50;

  // Re-issue the serving cert when the signing CA changes and at its half-life.
  let renewTimer: NodeJS.Timeout | undefined;
  const renewServing = async () => {
    try {
      serving = await makeServing();
      server.setSecureContext({ cert: serving.certChainPem, key: serving.keyPem, minVersion: "TLSv1.2" });
    } catch (err) {
      log.error("could not renew the issuer's serving certificate", { err });
    }
    scheduleServingRenewal();
  };
  const scheduleServingRenewal = () => {
    clearTimeout(renewTimer);
    const delay = Math.max(1000, (serving.notAfter.getTime() - now().getTime()) / 2);
    renewTimer = setTimeout(() => void renewServing(), Math.min(delay, 2 ** 31 - 1));
    renewTimer.unref();
  };
  scheduleServingRenewal();
  let lastActive = deps.authority.signer().ca.serial;
  const unsubscribe = deps.authority.onChange((s) => {
    if (s.active.serial !== lastActive) {
      lastActive = s.active.serial;
      void renewServing();
    }
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<true> {
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === ISSUER_PATHS.healthz && req.method === "GET") {
        return send(res, deps.authority.ready ? 200 : 503, { ok: deps.authority.ready });
      }
      if (path === ISSUER_PATHS.bundle && req.method === "GET") {
        const body: BundleResponse = {
          bundlePem: deps.authority.bundlePem(),
          bundle: deps.authority.bundleJWKS(),
        };
        return send(res, 200, body);
      }
      if (path === ISSUER_PATHS.x509 || path === ISSUER_PATHS.jwt) {
        if (req.method !== "POST")
          return sendError(res, 405, { error: "MethodNotAllowed", message: `use POST ${path}` });
        const kind = path === ISSUER_PATHS.x509 ? "x509" : "jwt";
        const started = performance.now();
        try {
          const body = kind === "x509" ? await issueX509(req) : await issueJWT(req);
          deps.metrics.issued.inc({ kind });
          deps.metrics.issueSeconds.observe({ kind }, (performance.now() - started) / 1000);
          return send(res, 200, body);
        } catch (err) {
          const reason =
            err instanceof DeniedError
              ? err.reason
              : err instanceof ValidationError
                ? "InvalidRequest"
                : "Unavailable";
          deps.metrics.refused.inc({ kind, reason });
          throw err;
        }
      }
      return sendError(res, 404, { error: "NotFound", message: `no such endpoint ${path}` });
    } catch (err) {
      return sendFailure(res, err);
    }
  }

  async function admit(req: IncomingMessage): Promise<{ grant: WorkloadGrant; body: unknown }> {
    const auth = req.headers.authorization ?? "";
    const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(auth);
    if (!m)
      throw new DeniedError(
        "MissingToken",
        "send Authorization: Bearer <projected ServiceAccount token with the issuer audience>",
      );
    const tok = await deps.authenticate(m[1]!, req.socket.remoteAddress ?? "unknown");
    const grant = await deps.authorize(tok);
    const body = await readJSON(req);
    const wait = deps.rateLimit.take(`${grant.kind}/${grant.namespace}/${grant.name}`);
    if (wait > 0) {
      throw new RateLimitedError(
        "RateLimited",
        `too many SVID requests for this identity; retry in ${Math.ceil(wait)}s`,
        wait,
      );
    }
    return { grant, body };
  }

  async function issueX509(req: IncomingMessage): Promise<X509Response> {
    const { grant, body } = await admit(req);
    const parsed = x509Request.safeParse(body);
    if (!parsed.success) throw new ValidationError("x509-svid request", zodIssues(parsed.error));
    const { ca } = deps.authority.signer();
    const issuedAt = now();
    const svid = await signX509SVIDFromCSR({
      ca,
      csrPem: parsed.data.csr,
      spiffeID: grant.spiffeID,
      ttlMs: grant.ttlMs,
      now: issuedAt,
    });
    deps.onIssued?.(grant, { serial: svid.serial, notAfter: svid.notAfter, issuedAt });
    log.debug("issued X.509-SVID", { spiffeID: grant.spiffeID, serial: svid.serial });
    return {
      spiffeID: svid.spiffeID,
      certChainPem: svid.chainPem,
      bundlePem: deps.authority.bundlePem(),
      bundle: deps.authority.bundleJWKS(),
      serial: svid.serial,
      notAfter: svid.notAfter.toISOString(),
    };
  }

  async function issueJWT(req: IncomingMessage): Promise<JWTResponse> {
    const { grant, body } = await admit(req);
    const parsed = jwtRequest.safeParse(body);
    if (!parsed.success) throw new ValidationError("jwt-svid request", zodIssues(parsed.error));
    const audience = typeof parsed.data.audience === "string" ? [parsed.data.audience] : parsed.data.audience;
    const notAllowed = audience.filter((a) => !grant.jwtAudiences.includes(a));
    if (notAllowed.length > 0) {
      throw new DeniedError(
        "AudienceNotAllowed",
        `audience ${notAllowed.join(", ")} is not in spec.svid.jwtAudiences of ${grant.namespace}/${grant.name}; add it there first`,
      );
    }
    const { ca, jwtKey } = deps.authority.signer();
    // Fail closed: without a JWT key of its own the issuer never falls back to the CA key.
    if (!jwtKey) {
      throw new DeniedError(
        "JWTKeyNotConfigured",
        "the issuer has no JWT-SVID signing key; with a bring-your-own CA add jwt.key (PKCS#8 P-256) to the CA Secret",
      );
    }
    const t = await signJWTSVID({
      key: jwtKey,
      spiffeID: grant.spiffeID,
      audience,
      ttlMs: grant.ttlMs,
      now: now(),
      notAfter: ca.notAfter,
    });
    return { spiffeID: grant.spiffeID, token: t.token, expiresAt: t.expiresAt.toISOString() };
  }

  function sendFailure(res: ServerResponse, err: unknown): true {
    if (err instanceof RateLimitedError) {
      res.setHeader("Retry-After", String(Math.ceil(err.retryAfterS)));
      return sendError(res, 429, { error: err.reason, message: err.message });
    }
    if (err instanceof DeniedError) {
      return sendError(
        res,
        AUTHN_REASONS.has(err.reason) ? 401 : err.reason === "PayloadTooLarge" ? 413 : 403,
        {
          error: err.reason,
          message: err.message,
        },
      );
    }
    if (err instanceof ValidationError)
      return sendError(res, 400, { error: "InvalidRequest", message: err.message, issues: err.issues });
    if (err instanceof UnavailableError) {
      log.warn("issuer dependency unavailable", { err });
      return sendError(res, 503, {
        error: "Unavailable",
        message: "the issuer cannot reach the API server; retry with backoff",
      });
    }
    log.error("issuer request failed", { err });
    return sendError(res, 500, { error: "Internal", message: "the issuer failed; retry with backoff" });
  }

  server.listen(listen.port, listen.host);
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  log.info("issuer listening", { url: `https://${host}:${port}` });
  return {
    url: `https://${host}:${port}`,
    port,
    close: async () => {
      unsubscribe();
      clearTimeout(renewTimer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readJSON(req: IncomingMessage): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new ValidationError("request", [
      { path: "Content-Type", message: "send Content-Type: application/json" },
    ]);
  }
  let body: Buffer;
  try {
    // Event-driven and bounded (lib/http-body.ts): refused by Content-Length before reading, or as
    // soon as more than the limit has streamed in. An async iterator over the request cost more.
    body = await readBodyBytes(req, MAX_BODY_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLarge)
      throw new DeniedError("PayloadTooLarge", `the body must be at most ${MAX_BODY_BYTES} bytes`);
    throw err;
  }
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new ValidationError("request", [{ path: "", message: "the body is not valid JSON" }]);
  }
}

/** Writes a JSON answer; returns true so handlers can `return send(...)`. */
function send(res: ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
  return true;
}

function sendError(res: ServerResponse, status: number, body: ErrorResponse): true {
  return send(res, status, body);
}
