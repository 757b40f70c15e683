// The JWT-SVID signing key: a P-256 key of its own, never the X.509 CA key. Keeping the two apart
// means a JWT verifier trusts only keys published as `use: jwt-svid`, and a token signed with the CA
// key (which relying parties also hold, as x509-svid) is refused. kid = RFC 7638 thumbprint.
import * as jose from "jose";
import { ValidationError } from "../errors.ts";
import { type CryptoKey, generateP256, privateKeyFromPem, privateKeyToPem, publicKeyOf } from "./crypto.ts";
import { type JWTSigningKey, jwtKid } from "./jwt-svid.ts";

export interface JWTKey extends JWTSigningKey {
  keyPem: string;
  /** The public half as published in the bundle: kty, crv, x, y, use "jwt-svid", kid. */
  publicJwk: jose.JWK;
}

async function publicJwkOf(privateKey: CryptoKey): Promise<{ jwk: jose.JWK; kid: string }> {
  const pub = await publicKeyOf(privateKey);
  const j = await jose.exportJWK(pub);
  const kid = await jwtKid(pub);
  return { jwk: { kty: j.kty, crv: j.crv, x: j.x, y: j.y, use: "jwt-svid", kid }, kid };
}

export async function createJWTKey(): Promise<JWTKey> {
  const keys = await generateP256();
  const { jwk, kid } = await publicJwkOf(keys.privateKey);
  return { privateKey: keys.privateKey, keyPem: await privateKeyToPem(keys.privateKey), kid, publicJwk: jwk };
}

/** Loads a PKCS#8 P-256 JWT signing key; `field` names the Secret key in errors. */
export async function loadJWTKey(keyPem: string, field = "jwt.key"): Promise<JWTKey> {
  let privateKey: CryptoKey;
  try {
    privateKey = await privateKeyFromPem(keyPem);
  } catch (err) {
    throw new ValidationError("JWT signing key", [
      { path: field, message: `not a PKCS#8 P-256 key: ${(err as Error).message}` },
    ]);
  }
  const { jwk, kid } = await publicJwkOf(privateKey);
  return { privateKey, keyPem, kid, publicJwk: jwk };
}
