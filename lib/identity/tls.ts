// node:tls glue for SPIFFE mTLS: the peer is authorised by the SPIFFE ID in its one URI SAN, not
// by a host name. Chain validation stays with OpenSSL (`ca` = the trust bundle PEM).
import type { PeerCertificate, TLSSocket } from "node:tls";
import { parseWorkloadID } from "./spiffe-id.ts";

/** The single URI SAN of a peer certificate as Node reports it, or undefined. */
export function spiffeIDOfPeer(
  cert: Pick<PeerCertificate, "subjectaltname"> | undefined,
): string | undefined {
  const san = cert?.subjectaltname;
  if (!san) return undefined;
  const uris = san
    .split(", ")
    .filter((n) => n.startsWith("URI:"))
    .map((n) => n.slice(4));
  if (uris.length !== 1) return undefined;
  try {
    return parseWorkloadID(uris[0]!).toString();
  } catch {
    return undefined;
  }
}

/** The verified peer's SPIFFE ID on an authorised TLS socket, else undefined. */
export function peerSpiffeID(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  return spiffeIDOfPeer(socket.getPeerCertificate());
}

/** A `checkServerIdentity` for TLS clients that accepts the server only if `allow(spiffeID)`. */
export function checkSpiffeServer(allow: (spiffeID: string) => boolean) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const id = spiffeIDOfPeer(cert);
    if (!id) return new Error("the server certificate has no single SPIFFE ID URI SAN");
    if (!allow(id)) return new Error(`the server's SPIFFE ID ${id} is not the one expected`);
    return undefined;
  };
}
