// The approval channel. A call to a tool that needs approval is held; the pending request is
// listed on the admin listener (GET /approvals) and answered with
//   POST /approvals/<id>  {"decision":"approve"|"deny","argsHash":"sha256:…"}
// authenticated by an approver bearer token (WARDEN_APPROVAL_TOKENS_FILE, `<approver> <token>`
// per line). The authenticated name — never a name in the body — is the approver recorded in the
// audit log. An answer is bound to the exact argument hash; no answer before the timeout is a deny.
// A person answers with curl; a bot (Slack, ticketing) polls GET /approvals and posts the same.
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import * as z from "zod";

export interface PendingApproval {
  id: string;
  manifest: string;
  tool: string;
  argsHash: string;
  /** Arguments with configured fields redacted (what the approver gets to see). */
  args: unknown;
  agent: string;
  taskId: string | null;
  approvers: string[];
  createdAt: string;
  expiresAt: string;
}

export type ApprovalOutcome =
  | { decision: "approve"; approver: string }
  | { decision: "deny"; approver: string }
  | { decision: "timeout" };

export const approvalAnswer = z.strictObject({
  decision: z.enum(["approve", "deny"], { message: 'decision must be "approve" or "deny"' }),
  argsHash: z.string().regex(/^sha256:[a-f0-9]{64}$/, {
    message: "argsHash must be the pending call's sha256:<hex> argument hash",
  }),
  /** Optional: when given it must equal the authenticated approver (a guard against wrong tokens). */
  approver: z.string().min(1).max(256).optional(),
  reason: z.string().max(1024).optional(),
});

interface Entry {
  pending: PendingApproval;
  resolve: (o: ApprovalOutcome) => void;
  timer: NodeJS.Timeout;
}

export class ApprovalBroker {
  readonly #entries = new Map<string, Entry>();
  readonly #tokensFile: string | undefined;
  readonly #maxPending: number;

  constructor(tokensFile: string | undefined, maxPending = 1000) {
    this.#tokensFile = tokensFile;
    this.#maxPending = maxPending;
  }

  /** Holds a call until an approver answers or the timeout passes. */
  hold(
    p: Omit<PendingApproval, "id" | "createdAt" | "expiresAt">,
    timeoutMs: number,
  ): { id: string; outcome: Promise<ApprovalOutcome> } | undefined {
    if (this.#entries.size >= this.#maxPending) return undefined;
    const id = randomUUID();
    const now = Date.now();
    const pending: PendingApproval = {
      ...p,
      id,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + timeoutMs).toISOString(),
    };
    const outcome = new Promise<ApprovalOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#entries.delete(id);
        resolve({ decision: "timeout" });
      }, timeoutMs);
      this.#entries.set(id, { pending, resolve, timer });
    });
    return { id, outcome };
  }

  list(): PendingApproval[] {
    return [...this.#entries.values()].map((e) => e.pending);
  }

  /** Maps a bearer token to the approver it belongs to, or undefined. Constant-time comparison. */
  authenticate(authorization: string | undefined): string | undefined {
    if (!this.#tokensFile || !authorization?.startsWith("Bearer ")) return undefined;
    const presented = createHash("sha256").update(authorization.slice(7).trim()).digest();
    let text: string;
    try {
      text = readFileSync(this.#tokensFile, "utf8");
    } catch {
      return undefined;
    }
    let who: string | undefined;
    for (const line of text.split("\n")) {
      const [name, token] = line.trim().split(/\s+/);
      if (!name || !token || name.startsWith("#")) continue;
      const expected = createHash("sha256").update(token).digest();
      if (timingSafeEqual(presented, expected) && who === undefined) who = name;
    }
    return who;
  }

  /** Applies an authenticated answer; returns an HTTP status and message. */
  answer(id: string, approver: string, body: unknown): { status: number; message: string } {
    const e = this.#entries.get(id);
    if (!e)
      return { status: 404, message: `no pending approval ${id} (answered, timed out or never existed)` };
    const a = approvalAnswer.safeParse(body);
    if (!a.success)
      return {
        status: 400,
        message: a.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
      };
    if (a.data.approver !== undefined && a.data.approver !== approver) {
      return { status: 403, message: `the token belongs to ${approver}, not ${a.data.approver}` };
    }
    if (e.pending.approvers.length > 0 && !e.pending.approvers.includes(approver)) {
      return {
        status: 403,
        message: `${approver} is not an approver for ${e.pending.manifest}/${e.pending.tool}`,
      };
    }
    if (a.data.argsHash !== e.pending.argsHash) {
      return {
        status: 409,
        message:
          "argsHash does not match the held call's arguments: the answer is bound to the exact arguments",
      };
    }
    clearTimeout(e.timer);
    this.#entries.delete(id);
    e.resolve({ decision: a.data.decision, approver });
    return { status: 200, message: `${a.data.decision}d by ${approver}` };
  }

  close(): void {
    for (const [id, e] of this.#entries) {
      clearTimeout(e.timer);
      e.resolve({ decision: "timeout" });
      this.#entries.delete(id);
    }
  }
}
