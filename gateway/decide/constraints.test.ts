import { describe, expect, it } from "vitest";
import { constraintViolation, hostAllowed, patternProblem } from "./constraints.ts";

const v = (c: Record<string, unknown>, args: Record<string, unknown>) =>
  constraintViolation({ argument: "a", ...c } as never, args);

describe("argument constraints", () => {
  it("type, enum, prefix, lengths and bounds", () => {
    expect(v({ type: "integer" }, { a: 1.5 })).toMatch(/type integer/);
    expect(v({ type: "number" }, { a: 2 })).toBeUndefined();
    expect(v({ enum: ["x", "y"] }, { a: "z" })).toMatch(/one of/);
    expect(v({ enum: ["1"] }, { a: 1 })).toBeUndefined();
    expect(v({ prefix: "/data/" }, { a: "/etc/passwd" })).toMatch(/start with/);
    expect(v({ maxLength: 3 }, { a: "abcd" })).toMatch(/longer/);
    expect(v({ minLength: 2 }, { a: ["x"] })).toMatch(/shorter/);
    expect(v({ minimum: 1, maximum: 10 }, { a: 11 })).toMatch(/<= 10/);
    expect(v({ required: true }, {})).toMatch(/required/);
    expect(v({ type: "string" }, {})).toBeUndefined();
    expect(constraintViolation({ argument: "o.limit", maximum: 5 } as never, { o: { limit: 6 } })).toMatch(
      /o.limit/,
    );
  });
  it("anchors patterns and refuses unsafe ones", () => {
    expect(v({ pattern: "[a-z]+" }, { a: "abc1" })).toMatch(/must match/);
    expect(v({ pattern: "[a-z]+" }, { a: "abc" })).toBeUndefined();
    expect(patternProblem("(a+)+$")).toMatch(/catastrophic/);
    expect(patternProblem("(a|aa)*")).toMatch(/catastrophic/);
    expect(patternProblem("(\\w+\\s?)*")).toMatch(/catastrophic/);
    expect(patternProblem("(a)\\1")).toMatch(/backreferences/);
    expect(patternProblem("[a-z]+(-[a-z]+)?")).toBeUndefined();
    expect(patternProblem("((a+)?)+")).toMatch(/catastrophic/);
    expect(patternProblem("[a-z0-9]{1,20}")).toBeUndefined();
    expect(patternProblem("(abc)?x")).toBeUndefined();
    expect(v({ pattern: "(a+)+" }, { a: "aaaa" })).toMatch(/cannot be used/);
    expect(v({ pattern: "a*" }, { a: "a".repeat(5000) })).toMatch(/limit for pattern/);
  });
  it("host allowlists: exact, *.suffix subdomains only, userinfo refused", () => {
    expect(hostAllowed("docs.example.com", ["*.example.com"])).toBe(true);
    expect(hostAllowed("example.com", ["*.example.com"])).toBe(false);
    expect(hostAllowed("evilexample.com", ["*.example.com"])).toBe(false);
    const c = { hostAllowlist: ["api.example.com", "*.docs.example.org"] };
    expect(v(c, { a: "https://api.example.com/x" })).toBeUndefined();
    expect(v(c, { a: "https://API.EXAMPLE.COM/x" })).toBeUndefined();
    expect(v(c, { a: "https://a.docs.example.org" })).toBeUndefined();
    expect(v(c, { a: "https://api.example.com@evil.example/" })).toMatch(
      /user information|not in the allowlist/,
    );
    expect(v(c, { a: "https://api.example.com.evil.example/" })).toMatch(/not in the allowlist/);
    expect(v(c, { a: "file:///etc/passwd" })).toMatch(/http\(s\)/);
    expect(v(c, { a: "not a url" })).toMatch(/valid URL/);
    expect(v(c, { a: "https://api.example.com./" })).toMatch(/not in the allowlist/);
  });
});
