// Wires one gateway process: SVID source, policy store, audit writer, metrics, the mode's
// listener (outbound: loopback HTTP for the agent; inbound: mTLS in front of a tool server) and
// the admin listener. `startGateway` is what main.ts and the tests call.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import {
  type GatewayPolicy,
  gatewayPolicy,
  type InboundPolicy,
  inboundPolicy,
} from "../api/v1alpha1/policy.ts";
import { parseBundlePem } from "../lib/identity/bundle-pem.ts";
import { PeerRefusedError } from "../lib/identity/tls.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { createAdminServer } from "./admin.ts";
import { ApprovalBroker } from "./approvals.ts";
import { redactSet } from "./audit/redact.ts";
import { AuditWriter } from "./audit/writer.ts";
import type { GatewayConfig } from "./config.ts";
import { RateLimiter } from "./decide/ratelimit.ts";
import { TaskTokenVerifier } from "./decide/tasktoken.ts";
import { Drainer } from "./drain.ts";
import { InboundHandler } from "./inbound.ts";
import { GatewayMetrics } from "./metrics.ts";
import { OutboundHandler } from "./outbound.ts";
import { PolicyStore } from "./policy-store.ts";
import { FileSvidSource } from "./svid/files.ts";
import type { Svid, SvidSource } from "./svid/source.ts";
import { UpstreamClients } from "./upstream.ts";
import { readText, watchFiles } from "./watch.ts";

export interface RunningGateway {
  mode: "outbound" | "inbound";
  /** Base URL of the main listener (http://127.0.0.1:port or https://127.0.0.1:port). */
  url: string;
  adminURL: string;
  metrics: GatewayMetrics;
  audit: AuditWriter;
  outbound?: OutboundHandler;
  /**
   * Graceful stop: refuses new calls, ends server streams, waits (at most `deadlineMs`) for the
   * calls in flight to finish, then closes. Resolves with how many calls were still running.
   */
  drain(deadlineMs: number): Promise<{ leftInFlight: number }>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** An SVID source (issuer client); defaults to files from the configuration. */
  svid?: SvidSource;
  log?: Logger;
  /**
   * Called once the admin listener answers, before the SVID is awaited (inbound mode waits for its
   * first SVID before the mTLS listener can start; probes get "not ready" meanwhile, not ECONNREFUSED).
   */
  onAdminListening?: (adminURL: string) => void;
}

function listen(server: Server | HttpsServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function hostForURL(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  const log = opts.log ?? createLogger("gateway", { base: { mode: config.mode } });
  const svid = opts.svid ?? (await svidSourceFor(config, log));
  const metrics = new GatewayMetrics();
  const audit = new AuditWriter({
    file: config.auditFile,
    maxQueue: config.auditMaxQueue,
    checkpointEvery: config.auditCheckpointEvery,
    checkpointIntervalMs: config.auditCheckpointIntervalMs,
    signer: () => {
      const s = svid.current();
      return s && svid.secondsLeft() > 0
        ? { spiffeID: s.spiffeID, keyPem: s.keyPem, certChainPem: s.certChainPem }
        : undefined;
    },
    onState: (s) => {
      metrics.auditHealthy.set(s.ok ? 1 : 0);
      if (!s.ok) log.error("audit refusing records", { reason: s.reason, queued: s.queued });
    },
  });
  await audit.open();
  metrics.auditHealthy.set(1);

  // The trust bundle: its own mounted file when configured (reloaded on change), else the SVID's.
  let bundlePem = "";
  const readBundle = () => {
    if (config.bundleFile) {
      try {
        const text = readText(config.bundleFile);
        parseBundlePem(text, `trust bundle ${config.bundleFile}`); // corrupt or partial: trust nothing
        bundlePem = text;
      } catch (e) {
        log.error("trust bundle unreadable; peers cannot be verified", { err: e });
        bundlePem = "";
      }
    } else bundlePem = svid.current()?.bundlePem ?? "";
  };
  readBundle();

  const closers: (() => Promise<void> | void)[] = [];
  // Every rotation, in the log and as a counter: how an operator (and the e2e test) sees the
  // sidecar renew in a running pod.
  const svidTaken = (s: Svid) => {
    metrics.svidRotations.inc();
    log.info("svid rotated", { spiffeID: s.spiffeID, notAfter: s.notAfter.toISOString() });
  };
  const first = svid.current();
  if (first) svidTaken(first);
  closers.push(svid.onUpdate(svidTaken));
  const drainer = new Drainer();
  let main: Server | HttpsServer;
  let outbound: OutboundHandler | undefined;
  const approvals = config.mode === "outbound" ? new ApprovalBroker(config.approvalTokensFile) : undefined;
  let policyReady: () => string | undefined = () => "the policy has not been loaded yet";
  let mainListening = false;
  let scheme = "http";

  // The admin listener comes first: kubelet probes it from container start, and while the gateway
  // waits for its first SVID (inbound) it must answer "not ready, because…" rather than refuse.
  const admin = createAdminServer({
    ready: () => {
      const reasons: string[] = [];
      if (svid.secondsLeft() <= 0) reasons.push("no valid SVID");
      const p = policyReady();
      if (p) reasons.push(p);
      if (!audit.accepting()) reasons.push(audit.refusal());
      if (!mainListening) reasons.push("the main listener is not started yet");
      return { ready: reasons.length === 0, reasons };
    },
    metrics,
    beforeScrape: () => {
      metrics.svidSecondsLeft.set(svid.secondsLeft());
      metrics.auditHealthy.set(audit.accepting() ? 1 : 0);
    },
    approvals,
  });
  const closeServer = (s: Server | HttpsServer) =>
    new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  const adminAddr = await listen(admin, config.adminListen.host, config.adminListen.port);
  const adminURL = `http://${hostForURL(config.adminListen.host)}:${adminAddr.port}`;
  log.info("admin listening", { admin: adminAddr.port });
  opts.onAdminListening?.(adminURL);
  try {
    if (config.mode === "outbound") {
      const policy = new PolicyStore<GatewayPolicy>(config.policyFile, gatewayPolicy);
      const upstream = new UpstreamClients(
        config.trustDomain,
        config.upstreamTimeoutMs,
        (refusal, server) => {
          // The call it failed is audited by the outbound handler (UpstreamUnavailable, with this message).
          metrics.peerRefusals.inc({ side: "outbound", reason: refusal.refusal });
          log.warn("tool server refused at TLS", {
            reason: refusal.refusal,
            message: refusal.message,
            server,
          });
        },
      );
      let verifier: TaskTokenVerifier | undefined;
      const onPolicy = () => {
        const st = policy.state;
        metrics.setPolicy(st.ok ? st.policy.version : undefined);
        if (!st.ok) log.error("policy unavailable: every call is denied", { reason: st.reason });
        else log.info("policy loaded", { version: st.policy.version });
        const audiences = [svid.current()?.spiffeID, config.taskTokenAudience].filter(
          (a): a is string => !!a,
        );
        try {
          verifier =
            st.ok && st.policy.taskTokens.issuers.length > 0
              ? new TaskTokenVerifier(st.policy.taskTokens.issuers, {
                  audiences,
                  subject: st.policy.agent.spiffeID,
                })
              : undefined;
        } catch (e) {
          // An agent SPIFFE ID that does not parse: no task token can be honoured (fail closed).
          verifier = undefined;
          log.error("task tokens cannot be verified for this policy", { err: e });
        }
      };
      policy.onChange(onPolicy);
      policy.watch();
      onPolicy();
      upstream.update(svid.current(), bundlePem);
      const unsub = svid.onUpdate((s) => {
        readBundle();
        upstream.update(s, bundlePem);
        onPolicy();
      });
      const bundleWatch = config.bundleFile
        ? watchFiles([config.bundleFile], () => {
            readBundle();
            upstream.update(svid.current(), bundlePem);
          })
        : undefined;
      outbound = new OutboundHandler({
        maxBodyBytes: config.maxBodyBytes,
        maxDepth: config.maxDepth,
        credentialsDir: config.credentialsDir,
        taskTokenAudience: config.taskTokenAudience,
        policy,
        svid,
        audit,
        metrics,
        approvals: approvals!,
        limiter: new RateLimiter(),
        upstream,
        taskTokens: () => verifier,
        redactFields: redactSet(config.auditRedact),
        origin: { allowedOrigins: config.allowedOrigins, allowedHosts: config.allowedHosts },
        log,
      });
      main = createHttpServer({ keepAliveTimeout: 30_000 }, drainer.wrap(outbound.handle));
      policyReady = () => (policy.state.ok ? undefined : policy.state.reason);
      closers.push(
        () => policy.close(),
        () => unsub(),
        () => bundleWatch?.close(),
        () => approvals?.close(),
        () => upstream.close(),
        () => outbound?.close(),
      );
    } else {
      const policy = new PolicyStore<InboundPolicy>(config.policyFile, inboundPolicy);
      policy.onChange((st) => {
        metrics.setPolicy(st.ok ? st.policy.version : undefined);
        if (!st.ok) log.error("inbound policy unavailable: every caller is refused", { reason: st.reason });
      });
      policy.watch();
      metrics.setPolicy(policy.state.ok ? policy.state.policy.version : undefined);
      policyReady = () => (policy.state.ok ? undefined : policy.state.reason);
      closers.push(() => policy.close());
      await svid.ready();
      const s = svid.current()!;
      const tls = () => ({
        cert: svid.current()!.certChainPem,
        key: svid.current()!.keyPem,
        ca: bundlePem || s.bundlePem,
      });
      const inbound = new InboundHandler({
        upstream: config.upstream,
        policy,
        svid,
        audit,
        metrics,
        log,
        trustDomain: config.trustDomain,
      });
      const server = createHttpsServer(
        {
          ...tls(),
          requestCert: true,
          // The handshake completes whatever the client presents, so that every refusal is judged
          // (and counted, logged, audited) by inbound.onSecureConnection, which runs before HTTP and
          // closes the connection of any client whose chain or SVID profile fails.
          rejectUnauthorized: false,
          minVersion: "TLSv1.2",
          keepAliveTimeout: 30_000,
        },
        drainer.wrap(inbound.handle),
      );
      server.prependListener("secureConnection", inbound.onSecureConnection);
      server.on("tlsClientError", (err, socket) => {
        const refusal = err instanceof PeerRefusedError ? err.refusal : "Handshake";
        inbound.refusePeer(refusal, err.message, socket.remoteAddress);
      });
      const refresh = () => {
        readBundle();
        try {
          server.setSecureContext({ ...tls(), minVersion: "TLSv1.2" } as Parameters<
            typeof server.setSecureContext
          >[0]);
        } catch (e) {
          log.error("could not apply rotated SVID/bundle", { err: e });
        }
      };
      const unsub = svid.onUpdate(refresh);
      const bundleWatch = config.bundleFile ? watchFiles([config.bundleFile], refresh) : undefined;
      main = server;
      scheme = "https";
      closers.push(
        () => unsub(),
        () => bundleWatch?.close(),
      );
    }
  } catch (e) {
    // Startup failed after the admin listener opened: do not leave it answering for a dead gateway.
    await closeServer(admin);
    for (const c of closers) await c();
    await audit.close();
    throw e;
  }
  let mainAddr: AddressInfo;
  try {
    mainAddr = await listen(main, config.listen.host, config.listen.port);
  } catch (e) {
    await closeServer(admin);
    for (const c of closers) await c();
    await audit.close();
    throw e;
  }
  mainListening = true;
  log.info("gateway listening", { listen: mainAddr.port, admin: adminAddr.port });

  const close = async () => {
    await Promise.all([closeServer(main), closeServer(admin)]);
    for (const c of closers) await c();
    await audit.close();
    if (!opts.svid) svid.close();
  };
  return {
    mode: config.mode,
    url: `${scheme}://${hostForURL(config.listen.host)}:${mainAddr.port}`,
    adminURL,
    metrics,
    audit,
    ...(outbound ? { outbound } : {}),
    async drain(deadlineMs) {
      const left = await drainer.drain(deadlineMs);
      await close();
      return left;
    },
    close,
  };
}

/** The SVID source the configuration asks for: files, or the lib/identity issuer client. */
async function svidSourceFor(config: GatewayConfig, log: Logger): Promise<SvidSource> {
  if (config.svidCertFile && config.svidKeyFile) {
    return new FileSvidSource(config.svidCertFile, config.svidKeyFile, config.bundleFile);
  }
  const { issuerSvidSource } = await import("./svid/issuer.ts");
  return issuerSvidSource(config, log);
}
