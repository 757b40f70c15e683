// Session ownership at the inbound gateway, in front of a tool server shared by many agents: an
// MCP session belongs to the caller (SPIFFE ID, from mTLS) whose request opened it — a request sent
// without Mcp-Session-Id that the server answered with one. A session id presented by any other
// caller, or never seen opened here, is answered 404 "session not found" (the transport's answer
// for an unknown session, which also does not reveal that it exists). GET streams, DELETE and
// resumption with Last-Event-ID carry the session header and are scoped the same way.
import { type Deny, deny } from "./decide/deny.ts";

const MAX_SESSIONS = 50_000;

export class SessionOwners {
  readonly #owner = new Map<string, string>();
  readonly #max: number;

  constructor(max = MAX_SESSIONS) {
    this.#max = max;
  }

  /** The refusal when `caller` may not use session `sid` (or resume without one), else undefined. */
  check(
    caller: string,
    sid: string | undefined,
    lastEventId: string | undefined,
    manifest: string,
  ): Deny | undefined {
    if (sid === undefined) {
      return lastEventId === undefined
        ? undefined
        : deny(
            "SessionRequired",
            "resuming a stream (Last-Event-ID) needs the caller's Mcp-Session-Id",
            manifest,
          );
    }
    if (this.#owner.get(sid) === caller) return undefined;
    return deny(
      "SessionNotFound",
      `session ${JSON.stringify(sid.slice(0, 128))} was not opened by ${caller} through this gateway`,
      manifest,
    );
  }

  /** After the upstream answered: a new session id on a session-less request is the caller's. */
  learn(caller: string, requestSid: string | undefined, responseSid: unknown): void {
    if (requestSid !== undefined || typeof responseSid !== "string" || responseSid === "") return;
    if (this.#owner.has(responseSid)) return; // never re-assign a live session to another caller
    if (this.#owner.size >= this.#max) this.#owner.delete(this.#owner.keys().next().value!);
    this.#owner.set(responseSid, caller);
  }

  forget(sid: string): void {
    this.#owner.delete(sid);
  }
}
