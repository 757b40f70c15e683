// The parts of an AgentIdentity the identity subsystem (issuer authorization and Secret delivery)
// relies on; the CRD validated the rest. One definition so both read the same fields the same way.
import * as z from "zod";

export const identityMetadataView = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  deletionTimestamp: z.unknown().optional(),
});

export const identitySpecView = z.object({
  enclave: z.string(),
  serviceAccountName: z.string().optional(),
  suspended: z.boolean().optional(),
  svid: z
    .object({
      ttl: z.string().optional(),
      delivery: z.string().optional(),
      jwtAudiences: z.array(z.string()).optional(),
      secretName: z.string().optional(),
    })
    .optional(),
});
