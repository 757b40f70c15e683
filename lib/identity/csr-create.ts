// PKCS#10 certificate requests (RFC 2986), made in memory by the workload (its key never leaves the
// process), written as DER from constant bytes and signed by OpenSSL: the gateway's SVID client
// makes one per renewal, and this keeps an ASN.1 library out of the sidecar.
import { KeyObject, sign, type webcrypto } from "node:crypto";
import { tlv } from "./der.ts";
import { parseWorkloadID } from "./spiffe-id.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const VERSION_0 = hex("02 01 00");
const EMPTY_NAME = hex("30 00");
const ALG_ECDSA_SHA256 = hex("30 0a 06 08 2a 86 48 ce 3d 04 03 02");
const OID_EXTENSION_REQUEST = hex("06 09 2a 86 48 86 f7 0d 01 09 0e");
const OID_SAN = hex("06 03 55 1d 11");
/** The SubjectPublicKeyInfo algorithm of a P-256 key (id-ecPublicKey, prime256v1). */
const SPKI_ALG_P256 = hex("30 13 06 07 2a 86 48 ce 3d 02 01 06 08 2a 86 48 ce 3d 03 01 07");

export interface CSRKeyPair {
  privateKey: KeyObject | webcrypto.CryptoKey;
  publicKey: KeyObject | webcrypto.CryptoKey;
}

function keyObject(k: KeyObject | webcrypto.CryptoKey): KeyObject {
  return k instanceof KeyObject ? k : KeyObject.from(k);
}

/**
 * A CSR signed by `keys` (ECDSA P-256, SHA-256) with the SPIFFE ID as its only (URI) SAN, or with no
 * attribute at all when the workload does not know its ID yet (the issuer decides it from the
 * token either way). Subject empty: the SVID's identity is its URI SAN.
 */
export async function createCSR(keys: CSRKeyPair, spiffeID?: string): Promise<string> {
  if (spiffeID) parseWorkloadID(spiffeID);
  const publicKey = keyObject(keys.publicKey);
  const privateKey = keyObject(keys.privateKey);
  if (publicKey.asymmetricKeyType !== "ec" || publicKey.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    throw new TypeError("createCSR needs an ECDSA P-256 key pair");
  const spki = publicKey.export({ type: "spki", format: "der" });
  if (!spki.subarray(2, 2 + SPKI_ALG_P256.length).equals(SPKI_ALG_P256))
    throw new TypeError("createCSR needs a named-curve P-256 public key");
  const attributes = spiffeID
    ? tlv(
        0xa0,
        tlv(
          0x30,
          OID_EXTENSION_REQUEST,
          tlv(
            0x31,
            tlv(0x30, tlv(0x30, OID_SAN, tlv(0x04, tlv(0x30, tlv(0x86, Buffer.from(spiffeID, "latin1")))))),
          ),
        ),
      )
    : tlv(0xa0);
  const info = tlv(0x30, VERSION_0, EMPTY_NAME, spki, attributes);
  const signature = sign("sha256", info, { key: privateKey, dsaEncoding: "der" });
  const der = tlv(0x30, info, ALG_ECDSA_SHA256, tlv(0x03, Buffer.from([0]), signature));
  const b64 = der.toString("base64").replace(/.{64}(?=.)/g, "$&\n");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----`;
}
