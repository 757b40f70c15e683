// Issuer mode: the SVID comes from lib/identity's SvidClient (P-256 key made in memory, CSR +
// projected ServiceAccount token to the issuer, renewed at WARDEN_SVID_RENEW_AT of its lifetime,
// half-life by default). This adapter turns it into the gateway's SvidSource.
import { readFile } from "node:fs/promises";
import {
  httpsTransport,
  SvidClient,
  type SvidClientOptions,
  tokenFromFile,
} from "../../lib/identity/svid-client.ts";
import type { Logger } from "../../lib/log.ts";
import type { GatewayConfig } from "../config.ts";
import type { Svid, SvidSource } from "./source.ts";

/** The client shape the gateway relies on (SvidClient has it; tests may pass their own). */
export interface SvidClientLike {
  current(): Svid | undefined;
  secondsLeft(): number;
  onUpdate(fn: (s: Svid) => void): () => void;
  stop(): Promise<void> | void;
}

export function fromSvidClient(client: SvidClientLike): SvidSource {
  return {
    current: () => client.current(),
    ready: () =>
      client.current()
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const off = client.onUpdate(() => {
              off();
              resolve();
            });
          }),
    secondsLeft: () => client.secondsLeft(),
    onUpdate: (fn) => client.onUpdate(fn),
    close: () => void client.stop(),
  };
}

/** The SvidClient options issuer mode runs with, from the gateway's configuration. */
export function issuerClientOptions(config: GatewayConfig, log?: Logger): SvidClientOptions {
  if (!config.issuerURL || !config.tokenFile || !config.trustDomain || !config.bundleFile) {
    throw new Error(
      "issuer mode needs WARDEN_ISSUER_URL, WARDEN_TOKEN_FILE, WARDEN_TRUST_DOMAIN and WARDEN_BUNDLE_FILE (or the SVID file variables)",
    );
  }
  const bundleFile = config.bundleFile;
  const transport = httpsTransport({
    issuerURL: config.issuerURL,
    bundle: () => readFile(bundleFile, "utf8"),
  });
  return {
    trustDomain: config.trustDomain,
    readToken: tokenFromFile(config.tokenFile),
    trustBundle: () => readFile(bundleFile, "utf8"),
    requestSVID: transport.x509,
    renewAt: config.svidRenewAt,
    ...(log ? { log } : {}),
  };
}

export async function issuerSvidSource(config: GatewayConfig, log?: Logger): Promise<SvidSource> {
  const client = new SvidClient(issuerClientOptions(config, log));
  // The first attempt may fail (issuer not up yet): the client retries with backoff, and the
  // gateway stays not-ready and denies every call until an SVID arrives.
  await client.start();
  return fromSvidClient(client);
}
