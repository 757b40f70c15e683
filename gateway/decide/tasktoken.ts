// Task tokens: an ES256 JWT, minted by a trusted orchestrator for one task and one agent, that
// narrows what that agent may call while working on that task. Verified per RFC 8725 with the
// strict decoder shared with JWT-SVIDs (lib/identity/jws.ts): explicit `typ: warden-task+jwt` (so
// no other JWT can pass for one), a header of only alg/typ/kid, strict base64url, no duplicate
// members, a JSON object payload. Then, in a fixed order, each refusal naming its claim: iss
// (trusted), signature (with that issuer's keys), sub (a SPIFFE ID, and the presenting agent's),
// aud (one, ours), exp, nbf, iat, lifetime ≤ 15 minutes, task_id, allowed_tools, and the optional
// allowed_resources, allowed_prompts and prompt_hash. What a token does not list, its task may not
// use: absent allowed_resources means no resource, absent allowed_prompts no prompt.
import type { JWK } from "jose";
import * as z from "zod";
import {
  promptName,
  URI_DOT_SEGMENT,
  URI_ENCODED_FORBIDDEN,
  uriPattern,
} from "../../api/v1alpha1/surface.ts";
import {
  decodeJws,
  type JwsKind,
  numericDate,
  requireClaim,
  selectVerificationKey,
  verifyJwsSignature,
} from "../../lib/identity/jws.ts";
import { parseWorkloadID } from "../../lib/identity/spiffe-id.ts";
import { TtlCache } from "../../lib/ttl-cache.ts";
import { sha256Hex } from "./digest.ts";

export const MAX_TASK_TOKEN_LIFETIME_S = 15 * 60;
export const MAX_TASK_TOKEN_BYTES = 8192;
export const TASK_TOKEN_HEADER = "warden-task-token";
export const PROMPT_HASH_HEADER = "warden-prompt-hash";
/** The explicit JWT type of task tokens (RFC 8725 §3.11; media type application/warden-task+jwt). */
export const TASK_TOKEN_TYP = "warden-task+jwt";
export const TASK_TOKEN_KIND: JwsKind = {
  what: "task token",
  typ: [TASK_TOKEN_TYP, `application/${TASK_TOKEN_TYP}`],
  maxBytes: MAX_TASK_TOKEN_BYTES,
};
const CLOCK_TOLERANCE_S = 30;

export interface TaskToken {
  taskId: string;
  allowedTools: string[];
  /** URI patterns (the grant's syntax) the task may read or subscribe to; empty: none. */
  allowedResources: string[];
  /** Prompt names the task may get (and complete for); empty: none. */
  allowedPrompts: string[];
  promptHash?: string | undefined;
  subject: string;
  issuer: string;
  expiresAt: number;
}

/** The CRD's CEL rule on URI patterns (api/v1alpha1/surface.ts), applied here in code. */
const NON_CANONICAL_PATTERN = new RegExp(`${URI_DOT_SEGMENT}|${URI_ENCODED_FORBIDDEN}`);

const taskClaims = {
  task_id: z.string().min(1).max(256),
  allowed_tools: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/)).max(512),
  // The grant's own pattern syntax, and the canonical-URI rule the CRD enforces with CEL (here in
  // code: a token never reaches the API server): no dot segments, no encoded separators.
  allowed_resources: z
    .array(
      uriPattern.refine((p) => !NON_CANONICAL_PATTERN.test(p), {
        message:
          "a URI pattern may not contain '.' or '..' segments or percent-encoded '.', '/', '\\', '%' or controls",
      }),
    )
    .max(32)
    .optional(),
  allowed_prompts: z.array(promptName).max(256).optional(),
  prompt_hash: z
    .string()
    .regex(/^sha256:[a-f0-9]{64}$/)
    .optional(),
};

export interface TrustedIssuer {
  issuer: string;
  jwks: { keys: Record<string, unknown>[] };
}

export interface TaskTokenAudience {
  /** Audiences this gateway answers to (the agent's SPIFFE ID, and an optional configured one). */
  audiences: readonly string[];
  /** The presenting agent's SPIFFE ID: a token's sub must be exactly this. */
  subject: string;
}

export class TaskTokenVerifier {
  readonly #issuers = new Map<string, readonly JWK[]>();
  readonly #audiences: string[];
  readonly #subject: string;
  /** Verified tokens by sha256, until they expire: a tool-call burst verifies each token once. */
  readonly #cache: TtlCache<TaskToken>;
  readonly #now: () => number;

  constructor(issuers: readonly TrustedIssuer[], who: TaskTokenAudience, now: () => number = Date.now) {
    for (const i of issuers) this.#issuers.set(i.issuer, i.jwks.keys as unknown as JWK[]);
    this.#audiences = [...who.audiences];
    this.#subject = parseWorkloadID(who.subject).toString();
    this.#now = now;
    this.#cache = new TtlCache({ maxEntries: 10_000, ttlMs: MAX_TASK_TOKEN_LIFETIME_S * 1000, now });
  }

  /** Verifies `token`; throws an Error whose message names the check (and claim) that failed. */
  async verify(token: string): Promise<TaskToken> {
    if (typeof token !== "string" || token.length > MAX_TASK_TOKEN_BYTES)
      throw new Error(`task token is longer than ${MAX_TASK_TOKEN_BYTES} bytes`);
    const key = sha256Hex(token);
    const nowS = Math.floor(this.#now() / 1000);
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const what = TASK_TOKEN_KIND.what;
    const { header, payload } = decodeJws(token, TASK_TOKEN_KIND);
    const iss = requireClaim(payload, "iss", what);
    if (typeof iss !== "string") throw new Error("the task token's iss claim must be a string");
    const keys = this.#issuers.get(iss);
    if (!keys)
      throw new Error(
        `the task token's iss ${JSON.stringify(iss.slice(0, 200))} is not trusted by this enclave`,
      );
    const jwk = selectVerificationKey(keys, header.kid, ["sig"]);
    if (!jwk) throw new Error(`the task token's kid is not a verification key of issuer ${iss}`);
    await verifyJwsSignature(token, jwk, what);

    const sub = requireClaim(payload, "sub", what);
    let subject: string;
    try {
      subject = parseWorkloadID(String(typeof sub === "string" ? sub : "")).toString();
    } catch {
      throw new Error("the task token's sub claim must be the agent's SPIFFE ID");
    }
    if (subject !== this.#subject)
      throw new Error(`the task token's sub claim ${subject} is not the presenting agent ${this.#subject}`);
    const aud = requireClaim(payload, "aud", what);
    const audiences = typeof aud === "string" ? [aud] : aud;
    if (!Array.isArray(audiences) || audiences.length !== 1 || typeof audiences[0] !== "string")
      throw new Error("the task token's aud claim must name exactly one audience");
    if (!this.#audiences.includes(audiences[0]))
      throw new Error("the task token's aud claim does not name this agent");
    requireClaim(payload, "exp", what);
    const exp = numericDate(payload, "exp", what)!;
    if (exp <= nowS - CLOCK_TOLERANCE_S) throw new Error("the task token has expired (exp)");
    const nbf = numericDate(payload, "nbf", what);
    if (nbf !== undefined && nbf > nowS + CLOCK_TOLERANCE_S)
      throw new Error("the task token's nbf claim is in the future");
    requireClaim(payload, "iat", what);
    const iat = numericDate(payload, "iat", what)!;
    if (iat > nowS + CLOCK_TOLERANCE_S) throw new Error("the task token's iat claim is in the future");
    if (exp - iat > MAX_TASK_TOKEN_LIFETIME_S) {
      throw new Error(
        `the task token's lifetime (exp - iat) ${exp - iat}s exceeds ${MAX_TASK_TOKEN_LIFETIME_S}s`,
      );
    }
    for (const [claim, schema] of Object.entries(taskClaims)) {
      const r = schema.safeParse(payload[claim]);
      if (!r.success)
        throw new Error(
          `the task token's ${claim} claim is invalid: ${r.error.issues[0]?.message ?? "bad value"}`,
        );
    }
    const t: TaskToken = {
      taskId: payload.task_id as string,
      allowedTools: payload.allowed_tools as string[],
      allowedResources: (payload.allowed_resources as string[] | undefined) ?? [],
      allowedPrompts: (payload.allowed_prompts as string[] | undefined) ?? [],
      promptHash: payload.prompt_hash as string | undefined,
      subject,
      issuer: iss,
      expiresAt: exp,
    };
    // Kept until the token expires, so a burst of tool calls verifies it once.
    this.#cache.set(key, t, exp * 1000 - this.#now());
    return t;
  }
}
