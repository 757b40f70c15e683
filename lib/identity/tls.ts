// node:tls glue for SPIFFE mTLS: a peer is authorised by the SPIFFE ID in the one URI SAN of a
// certificate that passes the X.509-SVID leaf profile, read from the certificate's DER (never from
// Node's `subjectaltname` text rendering). OpenSSL still checks the chain against the bundle; this
// module adds what OpenSSL does not know about SVIDs, and gives every refusal a bounded reason so
// the gateways can count, log and audit it.
import type { PeerCertificate, TLSSocket } from "node:tls";
import { DeniedError } from "../errors.ts";
import { checkLeafProfile, LEAF_REFUSALS, type Purpose, SvidProfileError } from "./svid-profile.ts";

/** Every reason a TLS peer can be refused for: metric label values come only from this list. */
export const PEER_REFUSALS = [
  "NoCertificate",
  "ChainUntrusted",
  ...LEAF_REFUSALS,
  "UnexpectedPeer",
  "Handshake",
] as const;
export type PeerRefusal = (typeof PEER_REFUSALS)[number];

export class PeerRefusedError extends DeniedError {
  override name = "PeerRefusedError";
  readonly refusal: PeerRefusal;
  constructor(refusal: PeerRefusal, message: string) {
    super(`Peer${refusal}`, message);
    this.refusal = refusal;
  }
}

export interface PeerCheckOptions {
  /** The peer's SPIFFE ID must be in this trust domain. */
  trustDomain?: string | undefined;
  /** The role the peer plays: a TLS client needs clientAuth, a server serverAuth. */
  purpose: Purpose;
}

/** Profile check of a peer certificate's DER; the SPIFFE ID, or PeerRefusedError. */
export function spiffeIDOfPeerDER(der: Uint8Array | undefined, opts: PeerCheckOptions): string {
  if (!der || der.length === 0) throw new PeerRefusedError("NoCertificate", "the peer sent no certificate");
  try {
    return checkLeafProfile(der, { trustDomain: opts.trustDomain, purposes: [opts.purpose] }).spiffeID;
  } catch (e) {
    if (e instanceof SvidProfileError) throw new PeerRefusedError(e.refusal, e.message);
    throw new PeerRefusedError(
      "Malformed",
      `the peer certificate could not be checked: ${(e as Error).message}`,
    );
  }
}

/** The SPIFFE ID of a peer certificate as node:tls reports it (its `raw` DER), or PeerRefusedError. */
export function spiffeIDOfPeer(
  cert: Pick<PeerCertificate, "raw"> | undefined,
  opts: PeerCheckOptions,
): string {
  return spiffeIDOfPeerDER(cert?.raw ? new Uint8Array(cert.raw) : undefined, opts);
}

export type PeerVerdict =
  | { ok: true; spiffeID: string }
  | { ok: false; refusal: PeerRefusal; message: string };

/**
 * Server side: the verdict on a TLS client after the handshake. The chain must have verified
 * (OpenSSL's `authorized`), then the leaf must pass the SVID profile as a TLS client.
 */
export function checkPeerSocket(socket: TLSSocket, trustDomain: string | undefined): PeerVerdict {
  const der = socket.getPeerX509Certificate()?.raw;
  if (!der) return { ok: false, refusal: "NoCertificate", message: "the client sent no certificate" };
  if (!socket.authorized) {
    return {
      ok: false,
      refusal: "ChainUntrusted",
      message: `the client certificate does not chain to the trust bundle (${String(socket.authorizationError)})`,
    };
  }
  try {
    return {
      ok: true,
      spiffeID: spiffeIDOfPeerDER(new Uint8Array(der), { trustDomain, purpose: "clientAuth" }),
    };
  } catch (e) {
    const r = e as PeerRefusedError;
    return { ok: false, refusal: r.refusal, message: r.message };
  }
}

/** The verified peer's SPIFFE ID on a TLS socket, or undefined (any refusal). */
export function peerSpiffeID(socket: TLSSocket, trustDomain?: string): string | undefined {
  const v = checkPeerSocket(socket, trustDomain);
  return v.ok ? v.spiffeID : undefined;
}

/**
 * A `checkServerIdentity` for TLS clients: host names mean nothing, the server's SVID does. The
 * server must pass the profile as a TLS server, be in `trustDomain`, and be one `allow` accepts.
 * Node calls it only after the chain verified; a refusal is returned as a PeerRefusedError.
 */
export function checkSpiffeServer(opts: {
  trustDomain?: string | undefined;
  allow: (spiffeID: string) => boolean;
  describeExpected?: string;
}) {
  return (_host: string, cert: PeerCertificate): PeerRefusedError | undefined => {
    let id: string;
    try {
      id = spiffeIDOfPeer(cert, { trustDomain: opts.trustDomain, purpose: "serverAuth" });
    } catch (e) {
      return e as PeerRefusedError;
    }
    if (!opts.allow(id)) {
      return new PeerRefusedError(
        "UnexpectedPeer",
        `the server is ${id}, expected ${opts.describeExpected ?? "another SPIFFE ID"}`,
      );
    }
    return undefined;
  };
}

/**
 * OpenSSL chain-verification error codes as Node reports them (`err.code` on the client,
 * `socket.authorizationError` on the server): a connection failing with one of these was refused
 * because of the peer's chain, not because of the network.
 */
const CHAIN_ERROR_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "ERROR_IN_CRL_LAST_UPDATE_FIELD",
  "ERROR_IN_CRL_NEXT_UPDATE_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "UNSPECIFIED",
]);

/** The peer refusal a TLS client connection error stands for, or undefined (a network error). */
export function peerRefusalOf(err: unknown): PeerRefusedError | undefined {
  if (err instanceof PeerRefusedError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && CHAIN_ERROR_CODES.has(code)) {
    return new PeerRefusedError(
      "ChainUntrusted",
      `the peer's certificate chain was refused: ${(err as Error).message}`,
    );
  }
  return undefined;
}
