import { describe, expect, it } from "vitest";
import { upstreamErrorKind } from "./forward.ts";

describe("upstreamErrorKind", () => {
  const rows: [string, unknown, string][] = [
    ["an undici timeout", Object.assign(new Error("x"), { code: "UND_ERR_HEADERS_TIMEOUT" }), "timeout"],
    ["a TLS failure", Object.assign(new Error("x"), { code: "ERR_TLS_CERT_ALTNAME_INVALID" }), "tls"],
    [
      "a refused connection",
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      "connect",
    ],
    // An aborted request (the agent hung up): a DOMException with a numeric code.
    ["an abort (numeric code)", new DOMException("This operation was aborted", "AbortError"), "connect"],
    ["a thrown string", "boom", "connect"],
    ["null", null, "connect"],
  ];
  for (const [what, e, kind] of rows) {
    it(`${what} → ${kind}, never throws`, () => expect(upstreamErrorKind(e)).toBe(kind));
  }
});
