// Reads a V8 CPU profile (`node --cpu-prof`, the .cpuprofile JSON) and says where the time went:
// self time per function, inclusive time per function, and time per category of work, within a
// time window (the load period, so start-up and shutdown do not count). Pure functions over the
// parsed profile; bench/gateway-profile.ts runs the processes and prints what these return.

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The shape V8 writes for `--cpu-prof` (timestamps in µs of the monotonic clock). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A category of work and how to recognise its frames. */
export interface CategoryRule {
  name: string;
  test: (frame: CallFrame) => boolean;
  /**
   * Rules of a lower tier are tried on the whole stack before any rule of a higher one (default
   * 0): a socket write under undici is undici's, one under the gateway's own handler is HTTP's.
   */
  tier?: number;
}

export interface FunctionTime {
  /** "name (file:line)" with the file relative to the project when it is one of ours. */
  key: string;
  us: number;
}

export interface ProfileSummary {
  /** Time covered by samples in the window, µs (idle included). */
  windowUs: number;
  /** Time the thread was not idle, µs. */
  busyUs: number;
  /** Self time per function, descending. */
  self: FunctionTime[];
  /** Inclusive time per function (counted once per sample however deep it recurses), descending. */
  inclusive: FunctionTime[];
  /** Time per category (each sample in exactly one), descending; idle excluded. */
  categories: FunctionTime[];
}

/** Frames V8 reports for time outside JavaScript functions. */
const IDLE = "(idle)";

/** Where a frame comes from, shortened to the project path, a package name or a node: module. */
export function frameFile(url: string, root: string): string {
  if (url === "") return "";
  let u = url.startsWith("file://") ? decodeURIComponent(url.slice(7)) : url;
  const nm = u.lastIndexOf("/node_modules/");
  if (nm >= 0) return u.slice(nm + 1);
  const r = root.endsWith("/") ? root : `${root}/`;
  if (u.startsWith(r)) u = u.slice(r.length);
  return u;
}

export function frameKey(f: CallFrame, root: string): string {
  const file = frameFile(f.url, root);
  const name = f.functionName || "(anonymous)";
  return file ? `${name} (${file}:${f.lineNumber + 1})` : name;
}

/**
 * The category of one sample: tier by tier, walking from the leaf towards the root, the first
 * frame a rule recognises decides (so `sha256` under the audit writer counts as audit, a socket
 * write under undici as forwarding). V8's own pseudo-frames name their category themselves.
 */
export function categoryOf(stack: CallFrame[], rules: CategoryRule[]): string {
  const leaf = stack[0];
  if (leaf && stack.length === 1 && leaf.url === "" && /^\(.*\)$/.test(leaf.functionName))
    return leaf.functionName;
  const tiers = [...new Set(rules.map((r) => r.tier ?? 0))].sort((a, b) => a - b);
  for (const tier of tiers) {
    const inTier = rules.filter((r) => (r.tier ?? 0) === tier);
    for (const f of stack) {
      for (const r of inTier) if (r.test(f)) return r.name;
    }
  }
  return "other JavaScript";
}

function sorted(m: Map<string, number>): FunctionTime[] {
  return [...m.entries()].map(([key, us]) => ({ key, us })).sort((a, b) => b.us - a.us);
}

/**
 * Summarises the samples whose time lies in [fromUs, toUs] (the profile's clock; pass -Infinity /
 * Infinity for all). A sample's duration is the gap to the next sample, as DevTools counts it.
 */
export function summarize(
  profile: CpuProfile,
  opts: { root: string; rules: CategoryRule[]; fromUs?: number; toUs?: number },
): ProfileSummary {
  const from = opts.fromUs ?? Number.NEGATIVE_INFINITY;
  const to = opts.toUs ?? Number.POSITIVE_INFINITY;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // The stack of each node, leaf first, computed once per node.
  const stacks = new Map<number, CallFrame[]>();
  const stackOf = (id: number): CallFrame[] => {
    let s = stacks.get(id);
    if (s) return s;
    s = [];
    for (let at: number | undefined = id, guard = 0; at !== undefined && guard < 10_000; guard++) {
      const n = byId.get(at);
      if (!n) break;
      if (n.callFrame.functionName !== "(root)") s.push(n.callFrame);
      at = parent.get(at);
    }
    stacks.set(id, s);
    return s;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const categories = new Map<string, number>();
  let windowUs = 0;
  let busyUs = 0;
  let t = profile.startTime;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const next = profile.timeDeltas[i + 1];
    const dur = next !== undefined ? next : 0;
    if (dur <= 0) continue;
    const stack = stackOf(profile.samples[i]!);
    windowUs += dur;
    const leaf = stack[0];
    if (!leaf || leaf.functionName === IDLE) continue;
    busyUs += dur;
    const leafKey = frameKey(leaf, opts.root);
    self.set(leafKey, (self.get(leafKey) ?? 0) + dur);
    const seen = new Set<string>();
    for (const f of stack) {
      const k = frameKey(f, opts.root);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dur);
    }
    const cat = categoryOf(stack, opts.rules);
    categories.set(cat, (categories.get(cat) ?? 0) + dur);
  }
  return {
    windowUs,
    busyUs,
    self: sorted(self),
    inclusive: sorted(inclusive),
    categories: sorted(categories),
  };
}

const inProject = (root: string, f: CallFrame, ...paths: string[]) => {
  const file = frameFile(f.url, root);
  return paths.some((p) => file.startsWith(p));
};
const inPackage = (f: CallFrame, pkg: string) => f.url.includes(`/node_modules/${pkg}/`);

/**
 * The gateway's categories of work, in the order they are tried on each frame. Tier 0: the
 * project's components by file and the packages they call; tier 1: Node's own modules (HTTP,
 * TLS, sockets) reached from anywhere else; tier 2: the rest of the gateway's handler code.
 */
export function gatewayCategories(root: string): CategoryRule[] {
  const p = (f: CallFrame, ...paths: string[]) => inProject(root, f, ...paths);
  return [
    { name: "JSON-RPC validation (zod)", test: (f) => inPackage(f, "zod") },
    { name: "strict JSON parse", test: (f) => p(f, "gateway/decide/json.ts") },
    {
      name: "audit (record, canonical JSON, sha256, write, fdatasync)",
      test: (f) =>
        p(f, "gateway/audit/", "lib/canonical-json.ts", "gateway/outbound/record.ts") ||
        /\b(fdatasync|datasync)\b/.test(f.functionName),
    },
    {
      name: "response inspection",
      test: (f) =>
        p(
          f,
          "gateway/outbound/server-stream.ts",
          "gateway/decide/server-messages.ts",
          "gateway/decide/slim-verdict.ts",
          "gateway/decide/offload.ts",
          "gateway/sse-relay.ts",
          "gateway/sse.ts",
          "gateway/outbound/definitions.ts",
          "gateway/decide/surface.ts",
          "gateway/decide/listfilter.ts",
        ),
    },
    {
      name: "envelope + JSON-RPC classification",
      test: (f) =>
        p(f, "gateway/decide/envelope.ts", "gateway/decide/jsonrpc.ts", "gateway/decide/param-headers.ts"),
    },
    {
      name: "policy decision",
      test: (f) => p(f, "gateway/decide/", "gateway/outbound/pipeline.ts", "gateway/outbound/ownership.ts"),
    },
    { name: "TLS peer check (SVID profile)", test: (f) => p(f, "lib/identity/") },
    { name: "metrics (prom-client)", test: (f) => inPackage(f, "prom-client") || p(f, "gateway/metrics.ts") },
    { name: "logging", test: (f) => p(f, "lib/log.ts") },
    {
      name: "undici forwarding",
      test: (f) => inPackage(f, "undici") || p(f, "gateway/outbound/forward.ts", "gateway/upstream.ts"),
    },
    {
      name: "HTTP (node:http parse/serialize)",
      tier: 1,
      test: (f) => /^node:_http_|^node:http$/.test(f.url),
    },
    { name: "TLS (node:tls)", tier: 1, test: (f) => /^node:(_tls_|tls$|internal\/tls)/.test(f.url) },
    {
      name: "sockets and streams",
      tier: 1,
      test: (f) => /^node:(net|internal\/stream|internal\/streams|stream|internal\/net)/.test(f.url),
    },
    {
      name: "gateway request handling (routing, headers, body read)",
      tier: 2,
      test: (f) => p(f, "gateway/"),
    },
    {
      name: "timers and promises",
      tier: 2,
      test: (f) => /^node:internal\/(timers|process\/task_queues)/.test(f.url),
    },
  ];
}
