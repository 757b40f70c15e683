// PKCS#10 certificate requests, made in memory by the workload (its key never leaves the process).

import { ValidationError } from "../errors.ts";
import { x509 } from "./crypto.ts";

// Made natively (csr-create.ts): the gateway imports it from there, without @peculiar/x509.
export { createCSR } from "./csr-create.ts";

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
