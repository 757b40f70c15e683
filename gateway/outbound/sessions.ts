// The MCP sessions this gateway has seen opened (an initialize answered with Mcp-Session-Id), per
// tool server: the protocol version negotiated on each. Bounded: the oldest session is forgotten
// first, and a forgotten session is treated like one the gateway never saw.
import type { ProtocolVersion } from "../decide/methods.ts";

const MAX_SESSIONS = 10_000;

export interface Session {
  manifest: string;
  id: string;
  version: ProtocolVersion;
}

export class SessionTable {
  readonly #sessions = new Map<string, Session>();
  readonly #max: number;

  constructor(max = MAX_SESSIONS) {
    this.#max = max;
  }

  static key(manifest: string, id: string): string {
    return `${manifest}\u0000${id}`;
  }

  get(manifest: string, id: string | undefined): Session | undefined {
    return id === undefined ? undefined : this.#sessions.get(SessionTable.key(manifest, id));
  }

  open(manifest: string, id: string, version: ProtocolVersion): Session {
    const key = SessionTable.key(manifest, id);
    this.#sessions.delete(key);
    if (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value!);
    const s: Session = { manifest, id, version };
    this.#sessions.set(key, s);
    return s;
  }

  close(manifest: string, id: string): void {
    this.#sessions.delete(SessionTable.key(manifest, id));
  }

  get size(): number {
    return this.#sessions.size;
  }
}
