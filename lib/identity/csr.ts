// PKCS#10 certificate requests, made in memory by the workload (its key never leaves the process).

import { ValidationError } from "../errors.ts";
import type { CryptoKeyPair } from "./crypto.ts";
import { ECDSA_SHA256, x509 } from "./crypto.ts";
import { parseWorkloadID } from "./spiffe-id.ts";

/**
 * A CSR signed by `keys` with the SPIFFE ID as its only (URI) SAN, or with no extension at all when
 * the workload does not know its ID yet (the issuer decides it from the token either way).
 */
export async function createCSR(keys: CryptoKeyPair, spiffeID?: string): Promise<string> {
  if (spiffeID) parseWorkloadID(spiffeID);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: spiffeID
      ? [new x509.SubjectAlternativeNameExtension([{ type: "url", value: spiffeID }], false)]
      : [],
  });
  return csr.toString("pem");
}

/** Maximum PEM size accepted (a P-256 CSR is ~500 bytes). */
export const MAX_CSR_PEM_BYTES = 8192;

/** Parses exactly one PEM CSR; structural problems become ValidationError on field `csr`. */
export function parseCSR(pem: string): x509.Pkcs10CertificateRequest {
  const fail = (message: string) => new ValidationError("CSR", [{ path: "csr", message }]);
  if (pem.length > MAX_CSR_PEM_BYTES) throw fail(`must be at most ${MAX_CSR_PEM_BYTES} bytes`);
  let blocks: { type: string; rawData: ArrayBuffer }[];
  try {
    blocks = x509.PemConverter.decodeWithHeaders(pem);
  } catch {
    throw fail("is not PEM; send a PKCS#10 'CERTIFICATE REQUEST' PEM block");
  }
  if (blocks.length !== 1 || blocks[0]!.type !== "CERTIFICATE REQUEST") {
    throw fail("must be exactly one 'CERTIFICATE REQUEST' PEM block");
  }
  try {
    return new x509.Pkcs10CertificateRequest(blocks[0]!.rawData);
  } catch (err) {
    throw fail(`is not a valid PKCS#10 request: ${(err as Error).message}`);
  }
}
