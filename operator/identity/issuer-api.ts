// The issuer's wire contract: request bodies (zod) and response shapes. The client library and the
// server both import it, so the two cannot drift.
import * as z from "zod";
import type { SpiffeBundle } from "../../lib/identity/bundle.ts";
import { MAX_CSR_PEM_BYTES } from "../../lib/identity/csr.ts";

export const ISSUER_PATHS = {
  x509: "/v1/x509-svid",
  jwt: "/v1/jwt-svid",
  bundle: "/v1/bundle",
  healthz: "/healthz",
} as const;

export const MAX_BODY_BYTES = 16 * 1024;

export const x509Request = z
  .object({
    csr: z
      .string({ message: "csr must be a PEM string" })
      .min(1, { message: "csr must not be empty" })
      .max(MAX_CSR_PEM_BYTES, { message: `csr must be at most ${MAX_CSR_PEM_BYTES} bytes` })
      .describe("PKCS#10 CSR (PEM) for a P-256 key, asking for nothing but the workload's URI SAN."),
  })
  .strict();

export const jwtRequest = z
  .object({
    audience: z
      .union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).min(1).max(16)], {
        message: "audience must be a string or a list of 1-16 strings of 1-256 characters",
      })
      .describe("Audience(s) of the JWT-SVID; each must be listed in the identity's spec.svid.jwtAudiences."),
  })
  .strict();

export interface X509Response {
  spiffeID: string;
  /** Leaf first, then the signing CA. */
  certChainPem: string;
  bundlePem: string;
  bundle: SpiffeBundle;
  serial: string;
  notAfter: string;
}

export interface JWTResponse {
  spiffeID: string;
  token: string;
  expiresAt: string;
}

export interface BundleResponse {
  bundlePem: string;
  bundle: SpiffeBundle;
}

/** Every refusal: a stable CamelCase reason and what to do about it. */
export interface ErrorResponse {
  error: string;
  message: string;
  issues?: { path: string; message: string }[];
}
