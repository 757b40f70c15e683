// Task tokens: an ES256 JWT, minted by a trusted orchestrator for one task, that narrows what the
// agent may call while working on that task. Checked with jose plus the traps jose leaves open
// (DESIGN.md §7): algorithms allowlist always passed; exp/iat/aud/sub required; a payload with
// duplicate claim keys refused (jose keeps the last); one audience only; lifetime ≤ 15 minutes.
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { z } from "zod";
import { sha256Hex } from "./digest.ts";
import { parseStrictJson } from "./json.ts";

export const MAX_TASK_TOKEN_LIFETIME_S = 15 * 60;
export const TASK_TOKEN_HEADER = "warden-task-token";
export const PROMPT_HASH_HEADER = "warden-prompt-hash";

export interface TaskToken {
  taskId: string;
  allowedTools: string[];
  promptHash?: string | undefined;
  subject: string;
  issuer: string;
  expiresAt: number;
}

const claims = z.object({
  iss: z.string().min(1),
  sub: z.string().min(1),
  aud: z.union([z.string(), z.array(z.string()).length(1)]),
  exp: z.number().int().positive(),
  iat: z.number().int().positive(),
  task_id: z.string().min(1).max(256),
  allowed_tools: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/)).max(512),
  prompt_hash: z
    .string()
    .regex(/^sha256:[a-f0-9]{64}$/)
    .optional(),
});

export interface TrustedIssuer {
  issuer: string;
  jwks: { keys: Record<string, unknown>[] };
}

export class TaskTokenVerifier {
  readonly #issuers = new Map<string, ReturnType<typeof createLocalJWKSet>>();
  readonly #audiences: string[];
  /** Verified tokens by sha256, until they expire: a tool-call burst verifies each token once. */
  readonly #cache = new Map<string, TaskToken>();
  readonly #now: () => number;

  constructor(issuers: readonly TrustedIssuer[], audiences: readonly string[], now: () => number = Date.now) {
    for (const i of issuers)
      this.#issuers.set(i.issuer, createLocalJWKSet(i.jwks as unknown as JSONWebKeySet));
    this.#audiences = [...audiences];
    this.#now = now;
  }

  /** Verifies `token`; throws an Error whose message says which check failed. */
  async verify(token: string): Promise<TaskToken> {
    if (token.length > 8192) throw new Error("task token is longer than 8192 bytes");
    const key = sha256Hex(token);
    const nowS = Math.floor(this.#now() / 1000);
    const hit = this.#cache.get(key);
    if (hit && hit.expiresAt > nowS) return hit;
    const parts = token.split(".");
    if (parts.length !== 3) throw new Error("task token is not a compact JWS");
    const header = decodeProtectedHeader(token);
    if (header.alg !== "ES256") throw new Error(`task token alg ${String(header.alg)} is not ES256`);
    // Strict parse first: duplicate claim keys (jose keeps the last one) are refused outright.
    let raw: unknown;
    try {
      raw = parseStrictJson(Buffer.from(parts[1]!, "base64url").toString("utf8"), {
        maxDepth: 8,
        maxBytes: 8192,
      });
    } catch (e) {
      throw new Error(`task token payload: ${(e as Error).message}`);
    }
    const iss = (raw as { iss?: unknown }).iss;
    if (typeof iss !== "string") throw new Error("task token has no iss claim");
    const jwks = this.#issuers.get(iss);
    if (!jwks)
      throw new Error(
        `task token issuer ${JSON.stringify(iss.slice(0, 200))} is not trusted by this enclave`,
      );
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ["ES256"],
      issuer: iss,
      audience: this.#audiences,
      requiredClaims: ["exp", "iat", "aud", "sub"],
      maxTokenAge: MAX_TASK_TOKEN_LIFETIME_S,
      clockTolerance: 30,
      currentDate: new Date(this.#now()),
    });
    const c = claims.safeParse(payload);
    if (!c.success) {
      throw new Error(
        `task token claims: ${c.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    if (c.data.exp - c.data.iat > MAX_TASK_TOKEN_LIFETIME_S) {
      throw new Error(
        `task token lifetime ${c.data.exp - c.data.iat}s exceeds ${MAX_TASK_TOKEN_LIFETIME_S}s`,
      );
    }
    if (c.data.iat > nowS + 30) throw new Error("task token is issued in the future");
    const t: TaskToken = {
      taskId: c.data.task_id,
      allowedTools: c.data.allowed_tools,
      promptHash: c.data.prompt_hash,
      subject: c.data.sub,
      issuer: c.data.iss,
      expiresAt: c.data.exp,
    };
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(key, t);
    return t;
  }
}
