// WebCrypto + @peculiar/x509 setup shared by every identity module: ECDSA P-256 keys, PKCS#8 PEM,
// random serials. Importing this module is what makes @peculiar/x509 usable (reflect-metadata).
import "reflect-metadata";
import { randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

// The project compiles without the DOM lib: WebCrypto types come from node:crypto.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;

x509.cryptoProvider.set(webcrypto);

export { x509 };

export const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
export const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;
export const subtle = webcrypto.subtle;

/** A fresh P-256 key pair. Extractable so the private key can be written as PKCS#8 PEM. */
export async function generateP256(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(EC_P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** Imports a PKCS#8 P-256 private key; refuses anything else (fail closed on a wrong CA key). */
export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const blocks = x509.PemConverter.decodeWithHeaders(pem).filter((b) => b.type === "PRIVATE KEY");
  if (blocks.length !== 1) throw new Error("expected exactly one PKCS#8 'PRIVATE KEY' PEM block");
  return subtle.importKey("pkcs8", blocks[0]!.rawData, EC_P256, true, ["sign"]);
}

/** The public half of a P-256 private key (WebCrypto has no direct derivation: go through JWK). */
export async function publicKeyOf(privateKey: CryptoKey): Promise<CryptoKey> {
  const jwk = await subtle.exportKey("jwk", privateKey);
  const { d: _d, key_ops: _ops, ...pub } = jwk;
  return subtle.importKey("jwk", pub, EC_P256, true, ["verify"]);
}

/**
 * A random positive serial of 128 bits (SPIFFE asks for unique serials; RFC 5280 allows 20 octets).
 * The top bit is cleared so DER does not need a leading zero, and the top byte is forced non-zero
 * so the serial never shrinks below 120 bits of entropy-bearing length.
 */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString("hex");
}

export function certsFromPem(pem: string): x509.X509Certificate[] {
  return x509.PemConverter.decodeWithHeaders(pem)
    .filter((b) => b.type === "CERTIFICATE")
    .map((b) => new x509.X509Certificate(b.rawData));
}

export function certsToPem(certs: readonly x509.X509Certificate[]): string {
  return certs.map((c) => c.toString("pem")).join("\n") + "\n";
}
