// Helpers for tests of the identity modules (not imported by production code).

import type { CA } from "./ca.ts";
import { createRootCA } from "./ca.ts";
import { generateP256, privateKeyToPem } from "./crypto.ts";
import { createCSR } from "./csr.ts";
import type { IssuedSVID } from "./x509-svid.ts";
import { signX509SVIDFromCSR } from "./x509-svid.ts";

export async function testCA(trustDomain = "example.org", ttlMs = 24 * 3600_000): Promise<CA> {
  return createRootCA({ trustDomain, ttlMs });
}

/** A key made "in the workload", a CSR for it, and the SVID signed by `ca`. */
export async function issueFor(
  ca: CA,
  spiffeID: string,
  ttlMs = 15 * 60_000,
): Promise<IssuedSVID & { keyPem: string }> {
  const keys = await generateP256();
  const svid = await signX509SVIDFromCSR({ ca, csrPem: await createCSR(keys, spiffeID), spiffeID, ttlMs });
  return { ...svid, keyPem: await privateKeyToPem(keys.privateKey) };
}
