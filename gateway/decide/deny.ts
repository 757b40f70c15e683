// A refusal, as the decision core reports it and the edges render it: a JSON-RPC error whose
// message names the ToolManifest, the rule and the constraint, with the same facts in `data`.

/** JSON-RPC error code for policy refusals (implementation-defined server error range). */
export const DENY_CODE = -32001;
/** JSON-RPC standard codes used for malformed input. */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;

export interface Deny {
  /** Stable CamelCase rule name, e.g. ToolNotGranted; also the `reason` metric label. */
  rule: string;
  /** What exactly failed, e.g. `argument url: host evil.example is not in the allowlist`. */
  constraint: string;
  /** ToolManifest the call was routed to ("" when the request never got that far). */
  manifest: string;
  /** JSON-RPC code: DENY_CODE for policy, -32700/-32600/-32601 for malformed input. */
  code: number;
}

export function deny(rule: string, constraint: string, manifest = "", code = DENY_CODE): Deny {
  return { rule, constraint, manifest, code };
}

export function denyMessage(d: Deny): string {
  const where = d.manifest ? `ToolManifest "${d.manifest}"` : "the gateway";
  return `warden: denied by ${where}, rule ${d.rule}: ${d.constraint}`;
}

export function denyError(id: string | number | null, d: Deny): Record<string, unknown> {
  return {
    jsonrpc: "2.0",
    id,
    error: {
      code: d.code,
      message: denyMessage(d),
      data: { manifest: d.manifest, rule: d.rule, constraint: d.constraint },
    },
  };
}
