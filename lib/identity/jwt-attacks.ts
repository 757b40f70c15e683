// Hand-crafted compact JWS tokens for the adversarial token tests (never imported by production
// code): the signature is made over exactly the segments given, so padding, whitespace, a BOM or a
// duplicate header member survive into a token whose signature still verifies.
import { createPrivateKey, sign } from "node:crypto";
import type { CryptoKey } from "./crypto.ts";
import { subtle } from "./crypto.ts";

export const b64u = (v: string | Uint8Array) => Buffer.from(v).toString("base64url");

/** ES256 over `${headerSeg}.${payloadSeg}` as given (segments are not re-encoded). */
export async function signSegments(
  privateKey: CryptoKey,
  headerSeg: string,
  payloadSeg: string,
): Promise<string> {
  const pkcs8 = Buffer.from(await subtle.exportKey("pkcs8", privateKey));
  const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  const input = `${headerSeg}.${payloadSeg}`;
  const sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${b64u(sig)}`;
}

/** ES256 over header and payload JSON *text* (so duplicate members or a BOM can be written). */
export function signJsonText(
  privateKey: CryptoKey,
  headerJSON: string,
  payloadJSON: string,
): Promise<string> {
  return signSegments(privateKey, b64u(headerJSON), b64u(payloadJSON));
}
