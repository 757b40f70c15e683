import { describe, expect, it } from "vitest";
import { re2ToJs, UnsupportedPattern } from "./re2.ts";
import { bundledCrdObjects } from "./schemas.ts";

function patternsOf(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) patternsOf(n, out);
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "pattern" && typeof v === "string") out.push(v);
      else patternsOf(v, out);
    }
  }
  return out;
}

describe("RE2 patterns in JavaScript with RE2's meaning", () => {
  it("every pattern of the installed CRDs translates", () => {
    const patterns = patternsOf(bundledCrdObjects());
    expect(patterns.length).toBeGreaterThan(10);
    for (const p of patterns) expect(() => re2ToJs(p), p).not.toThrow();
  });

  const table: [string, string, boolean][] = [
    ["^[^@\\s]+@[^@\\s]+$", "a\u00a0b@example.com", true], // \s is ASCII in RE2; JS's would refuse NBSP
    ["^[^@\\s]+@[^@\\s]+$", "a b@example.com", false],
    ["^\\s$", "\u2028", false],
    ["^\\s$", "\u000b", false], // RE2's \s has no \v
    ["^\\d+$", "١٢٣", false], // Arabic-Indic digits are not \d in RE2
    ["^\\w+$", "é", false],
    ["^.$", "\r", true], // RE2's . matches \r; JavaScript's does not
    ["^.$", "\n", false],
    ["^.$", "😀", true], // one rune
    ["^[A-Za-z0-9_.-]{1,128}$", "x".repeat(128), true],
    ["^[A-Za-z0-9_.-]{1,128}$", "x".repeat(129), false],
    ["^a\\z", "a", true],
  ];
  for (const [pattern, input, want] of table) {
    it(`${pattern} ${want ? "matches" : "does not match"} ${JSON.stringify(input)}`, () => {
      expect(re2ToJs(pattern).test(input)).toBe(want);
    });
  }

  for (const bad of ["(?i)abc", "(a)\\1", "[[:alpha:]]", "[\\S]", "\\Qa.b\\E", "abc\\"]) {
    it(`refuses what it cannot translate exactly: ${bad}`, () => {
      expect(() => re2ToJs(bad)).toThrow(UnsupportedPattern);
    });
  }
});
