// What the outbound gateway owns per tool server: the MCP sessions it saw opened (an initialize
// answered with Mcp-Session-Id) and, per session, the protocol version negotiated, the tasks
// created on it, the agent requests still waiting for their answer and the server→client
// requests passed to the agent and not yet answered, and the client-side tasks the agent created
// in answer to the server's task-augmented requests. A session id the gateway did not see opened,
// a task not created on the session, or a response to a request nobody asked is refused: the
// table is the ownership record. Everything is bounded; what is forgotten is treated as unknown.
import type { ProtocolVersion } from "../decide/methods.ts";

const MAX_SESSIONS = 10_000;
/** Per session: tasks remembered, and requests outstanding in either direction. */
const MAX_TASKS = 10_000;
const MAX_PENDING = 1_000;
/** The pseudo-session of a tool server that runs without sessions (stateless). */
export const NO_SESSION = "";

export interface Session {
  manifest: string;
  id: string;
  version: ProtocolVersion | undefined;
  /** Task ids created on this session (CreateTaskResult). */
  tasks: BoundedSet;
  /** Ids of agent requests forwarded and not yet answered (idKey). */
  agentRequests: BoundedSet;
  /** Server→client requests passed to the agent, not yet answered: idKey → the request. */
  serverRequests: Map<string, PendingServerRequest>;
  /**
   * Client-side tasks: ids the agent created (CreateTaskResult) answering this session's
   * task-augmented sampling/elicitation requests, keyed by clientTaskKey (agent and task id). The
   * server may ask the agent about these, and only these (client-tasks.ts).
   */
  clientTasks: BoundedSet;
}

/** A server→client request passed to the agent and waiting for its answer. */
export interface PendingServerRequest {
  method: string;
  /** The request carried params.task: the agent may answer it with a CreateTaskResult. */
  taskAugmented: boolean;
}

/** A Set that forgets its oldest member beyond `max`. */
export class BoundedSet {
  readonly #s = new Set<string>();
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  add(v: string): void {
    this.#s.delete(v);
    if (this.#s.size >= this.max) this.#s.delete(this.#s.values().next().value!);
    this.#s.add(v);
  }
  has(v: string): boolean {
    return this.#s.has(v);
  }
  delete(v: string): boolean {
    return this.#s.delete(v);
  }
  get size(): number {
    return this.#s.size;
  }
}

/** JSON-RPC ids 1 and "1" are different ids. */
export function idKey(id: string | number): string {
  return `${typeof id}:${id}`;
}

function newSession(manifest: string, id: string, version: ProtocolVersion | undefined): Session {
  return {
    manifest,
    id,
    version,
    tasks: new BoundedSet(MAX_TASKS),
    agentRequests: new BoundedSet(MAX_PENDING),
    serverRequests: new Map(),
    clientTasks: new BoundedSet(MAX_TASKS),
  };
}

export class SessionTable {
  readonly #sessions = new Map<string, Session>();
  /** Per manifest, the state of stateless use (no Mcp-Session-Id). */
  readonly #sessionless = new Map<string, Session>();
  readonly #max: number;

  constructor(max = MAX_SESSIONS) {
    this.#max = max;
  }

  static key(manifest: string, id: string): string {
    return `${manifest}\u0000${id}`;
  }

  /** The session `id` of `manifest` when this gateway saw it opened. */
  get(manifest: string, id: string | undefined): Session | undefined {
    return id === undefined ? undefined : this.#sessions.get(SessionTable.key(manifest, id));
  }

  /** The session a message belongs to: the named one, or the tool server's sessionless state. */
  scope(manifest: string, id: string | undefined): Session | undefined {
    if (id === undefined || id === NO_SESSION) {
      let s = this.#sessionless.get(manifest);
      if (!s) {
        s = newSession(manifest, NO_SESSION, undefined);
        this.#sessionless.set(manifest, s);
      }
      return s;
    }
    return this.get(manifest, id);
  }

  open(manifest: string, id: string, version: ProtocolVersion): Session {
    const key = SessionTable.key(manifest, id);
    this.#sessions.delete(key);
    if (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value!);
    const s = newSession(manifest, id, version);
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

/** Remembers a server→client request passed to the agent (bounded: the oldest is forgotten). */
export function expectAnswer(s: Session, id: string | number, method: string, taskAugmented = false): void {
  const k = idKey(id);
  s.serverRequests.delete(k);
  if (s.serverRequests.size >= MAX_PENDING) s.serverRequests.delete(s.serverRequests.keys().next().value!);
  s.serverRequests.set(k, { method, taskAugmented });
}
