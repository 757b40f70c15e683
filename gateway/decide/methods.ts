// Which JSON-RPC methods a client may send, per negotiated MCP protocol revision. A method that is
// not listed for the revision in force is refused before anything reaches the tool server.
// Sources: the MCP schema for 2025-06-18 and 2025-11-25 (ClientRequest / ClientNotification
// unions), and the 2026-07-28 revision, which removed the initialize handshake (server/discover
// replaces it) and resources/subscribe (subscriptions/listen replaces it).

// Every revision the official TypeScript SDK negotiates (its SUPPORTED_PROTOCOL_VERSIONS) is
// accepted; the oldest three share the 2025-06-18 method sets (the client→server surface is the
// same; they differ in transport details the gateway handles: no MCP-Protocol-Version header).
export const SUPPORTED_PROTOCOL_VERSIONS = [
  "2024-10-07",
  "2024-11-05",
  "2025-03-26",
  "2025-06-18",
  "2025-11-25",
  "2026-07-28",
] as const;
export type ProtocolVersion = (typeof SUPPORTED_PROTOCOL_VERSIONS)[number];

const BASE_REQUESTS = [
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "prompts/list",
  "prompts/get",
  "completion/complete",
  "logging/setLevel",
];
const BASE_NOTIFICATIONS = [
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
];
const TASKS = ["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"];

export const CLIENT_REQUESTS: Record<ProtocolVersion, ReadonlySet<string>> = {
  "2024-10-07": new Set(BASE_REQUESTS),
  "2024-11-05": new Set(BASE_REQUESTS),
  "2025-03-26": new Set(BASE_REQUESTS),
  "2025-06-18": new Set(BASE_REQUESTS),
  "2025-11-25": new Set([...BASE_REQUESTS, ...TASKS]),
  "2026-07-28": new Set([
    ...BASE_REQUESTS.filter(
      (m) => !["initialize", "resources/subscribe", "resources/unsubscribe"].includes(m),
    ),
    ...TASKS,
    "server/discover",
    "subscriptions/listen",
  ]),
};

export const CLIENT_NOTIFICATIONS: Record<ProtocolVersion, ReadonlySet<string>> = {
  "2024-10-07": new Set(BASE_NOTIFICATIONS),
  "2024-11-05": new Set(BASE_NOTIFICATIONS),
  "2025-03-26": new Set(BASE_NOTIFICATIONS),
  "2025-06-18": new Set(BASE_NOTIFICATIONS),
  "2025-11-25": new Set([...BASE_NOTIFICATIONS, "notifications/tasks/status"]),
  "2026-07-28": new Set(
    [...BASE_NOTIFICATIONS, "notifications/tasks/status"].filter((m) => m !== "notifications/initialized"),
  ),
};

export function isSupportedVersion(v: string | undefined): v is ProtocolVersion {
  return v !== undefined && (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(v);
}

/** Revisions that open with `initialize`; later ones carry the version on every request. */
export function hasInitialize(v: ProtocolVersion): boolean {
  return v !== "2026-07-28";
}

/** Revisions with protocol-level sessions (Mcp-Session-Id) and the GET stream; 2026-07-28 has neither. */
export function hasSessions(v: ProtocolVersion): boolean {
  return v !== "2026-07-28";
}

/** Revisions whose clients send MCP-Protocol-Version on every request after initialize (2025-06-18 on). */
export function requiresVersionHeader(v: ProtocolVersion): boolean {
  return v >= "2025-06-18";
}

/** Revisions that require Mcp-Method (and Mcp-Name where a name applies) on every POST (SEP-2243). */
export function requiresRoutingHeaders(v: ProtocolVersion): boolean {
  return v >= "2026-07-28";
}

/** The version a server assumes when a request carries no MCP-Protocol-Version header. */
export const VERSION_WITHOUT_HEADER: ProtocolVersion = "2025-03-26";
