import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { uriPattern } from "../api/v1alpha1/surface.ts";
import { patternCovers, uriMatches, uriProblem, wildcardMatch } from "./uri-pattern.ts";

const DOCS = "file:///docs/*";
const WIKI = "https://wiki.example.com/pages/*";

/** Granted when the URI is canonical and matches one of the patterns: what the gateway does. */
const granted = (uri: string, patterns = [DOCS, WIKI]) =>
  uriProblem(uri) === undefined && patterns.some((p) => uriMatches(p, uri));

describe("resource URIs against granted patterns: attacks", () => {
  const attacks: [string, string][] = [
    ["dot-dot escape", "file:///docs/../etc/passwd"],
    ["dot-dot at the end", "file:///docs/a/.."],
    ["single-dot segment", "file:///docs/./a"],
    ["dot-dot before a query", "file:///docs/..?x=1"],
    ["dot-dot as a path parameter (Tomcat ..;)", "file:///docs/..;/etc/passwd"],
    ["dot-dot in a query value", "https://wiki.example.com/pages/view?path=../../admin"],
    ["dot-dot after '&'", "https://wiki.example.com/pages/v?a=1&../x"],
    ["percent-encoded dot-dot (lower case)", "file:///docs/%2e%2e/etc/passwd"],
    ["percent-encoded dot-dot (upper case)", "file:///docs/%2E%2E/etc/passwd"],
    ["half-encoded dot-dot", "file:///docs/.%2e/etc/passwd"],
    ["encoded slash", "file:///docs/..%2fetc%2fpasswd"],
    ["encoded backslash", "file:///docs/..%5cetc"],
    ["double-encoded dot (%252e)", "file:///docs/%252e%252e/etc/passwd"],
    ["encoded NUL", "file:///docs/a%00.txt"],
    ["encoded newline", "https://wiki.example.com/pages/a%0d%0aX-Injected:1"],
    ["malformed percent-encoding", "file:///docs/a%zz"],
    ["truncated percent-encoding", "file:///docs/a%2"],
    ["backslash as separator", "file:///docs\\..\\etc\\passwd"],
    ["backslash inside the path", "file:///docs/a\\b"],
    ["raw space", "file:///docs/a b"],
    ["raw NUL", "file:///docs/a\u0000b"],
    ["raw newline", "file:///docs/a\nb"],
    ["fullwidth dots (NFKC to ..)", "file:///docs/\uff0e\uff0e/etc/passwd"],
    ["one-dot leader (U+2024)", "file:///docs/\u2024\u2024/etc"],
    ["non-ASCII look-alike host", "https://wiki.examp\u0142e.com/pages/x"],
    ["right-to-left override", "file:///docs/\u202etxt.exe"],
    ["another scheme, same path", "http:///docs/secret"],
    ["scheme prefix confusion (filex:)", "filex:///docs/secret"],
    ["no scheme at all", "/docs/secret"],
    ["scheme-relative URI", "//wiki.example.com/pages/x"],
    ["opaque form of file:", "file:/docs/secret"],
    ["userinfo host swap", "https://wiki.example.com@evil.example/pages/x"],
    ["host suffix confusion", "https://wiki.example.com.evil.example/pages/x"],
    ["port injected before the path", "https://wiki.example.com:8443/pages/x"],
    ["sibling directory sharing a prefix", "file:///docs-private/secret"],
    ["the directory itself without a slash", "file:///docs"],
    ["empty", ""],
    ["over-long", `file:///docs/${"a".repeat(2100)}`],
  ];
  for (const [name, uri] of attacks) {
    it(`refuses: ${name}`, () => {
      expect(granted(uri)).toBe(false);
    });
  }

  const allowed: [string, string][] = [
    ["a file under the granted directory", "file:///docs/guide/intro.md"],
    ["a deep path", "file:///docs/a/b/c/d.txt"],
    ["three dots is a file name, not a segment", "file:///docs/.../x"],
    ["a dotfile", "file:///docs/.hidden"],
    ["dots inside a name", "file:///docs/v1..2.txt"],
    ["an encoded space", "file:///docs/my%20file.txt"],
    ["an encoded non-ASCII letter", "file:///docs/caf%C3%A9.md"],
    ["upper-case scheme (schemes are case-insensitive)", "FILE:///docs/readme"],
    ["a wiki page with a query", "https://wiki.example.com/pages/home?rev=3"],
  ];
  for (const [name, uri] of allowed) {
    it(`allows: ${name}`, () => {
      expect(uriProblem(uri)).toBeUndefined();
      expect(granted(uri)).toBe(true);
    });
  }

  it("'*' alone matches any canonical URI, but never a non-canonical one", () => {
    expect(granted("mem://anything/at/all", ["*"])).toBe(true);
    expect(granted("mem://x/../y", ["*"])).toBe(false);
  });
});

describe("patternCovers: attacks on the manifest bound", () => {
  const rows: [string, string, string, boolean][] = [
    ["the same pattern", DOCS, DOCS, true],
    ["a subdirectory", DOCS, "file:///docs/public/*", true],
    ["a single file", DOCS, "file:///docs/readme.md", true],
    ["two stars inside one", DOCS, "file:///docs/*/x/*", true],
    ["'*' covers everything", "*", "mem:*", true],
    ["'*' is covered only by '*'", DOCS, "*", false],
    ["a prefix sibling", DOCS, "file:///docs-private/*", false],
    ["a star before the bound's literal", DOCS, "file:///*/docs/*", false],
    ["a star in the host", WIKI, "https://wiki.example.com*", false],
    ["another scheme", DOCS, "http:///docs/*", false],
    ["a literal star is not a wildcard of the bound", "file:///docs/a", "file:///docs/*", false],
  ];
  for (const [name, outer, inner, covered] of rows) {
    it(`${covered ? "covers" : "does not cover"}: ${name}`, () => {
      expect(patternCovers(outer, inner)).toBe(covered);
    });
  }
});

describe("URI patterns in the API", () => {
  const rows: [string, string, boolean][] = [
    ["any URI", "*", true],
    ["a directory", DOCS, true],
    ["a template-like literal", "test://static/resource/{id}", true],
    ["no scheme", "/docs/*", false],
    ["a wildcard scheme", "*://docs/*", false],
    ["an upper-case scheme", "FILE:///docs/*", false],
    ["a space", "file:///my docs/*", false],
    ["a backslash", "file:///docs\\*", false],
    ["non-ASCII", "file:///d\u00f6cs/*", false],
  ];
  for (const [name, p, ok] of rows) {
    it(`${ok ? "accepts" : "refuses"} ${name}`, () => {
      expect(uriPattern.safeParse(p).success).toBe(ok);
    });
  }
});

// A small alphabet that hits every edge: separators, dots, stars, percent, hex digits.
const piece = fc.constantFrom(
  "a",
  "b",
  "/",
  ".",
  "*",
  "%",
  "2",
  "e",
  "f",
  "5",
  "c",
  "?",
  ";",
  "=",
  "&",
  "\\",
  "A",
);
const str = (max: number) => fc.array(piece, { maxLength: max }).map((xs) => xs.join(""));

/** Percent-decoding byte by byte (what a lenient server does; never throws on invalid UTF-8). */
const decodeBytes = (s: string) =>
  s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));

function regexFor(pattern: string): RegExp {
  const body = pattern
    .split("*")
    .map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "s");
}

describe("URI matcher: properties", () => {
  it("wildcardMatch agrees with the regular expression the pattern stands for", () => {
    fc.assert(
      fc.property(str(8), str(12), (p, v) => {
        expect(wildcardMatch(p, v)).toBe(regexFor(p).test(v));
      }),
      { numRuns: 2000 },
    );
  });

  it("patternCovers is sound: every expansion of the inner pattern matches the outer", () => {
    fc.assert(
      fc.property(str(6), str(8), fc.array(str(4), { minLength: 8, maxLength: 8 }), (o, i, fills) => {
        fc.pre(patternCovers(o, i));
        const parts = i.split("*");
        const expanded = parts.reduce(
          (acc, part, k) => acc + (k > 0 ? fills[k % fills.length]! : "") + part,
          "",
        );
        expect(wildcardMatch(o, expanded)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("patternCovers is reflexive and '*' covers everything", () => {
    fc.assert(
      fc.property(str(10), (p) => {
        expect(patternCovers(p, p)).toBe(true);
        expect(patternCovers("*", p)).toBe(true);
      }),
    );
  });

  it("a granted file: URI resolves (WHATWG URL, as servers parse it) inside the granted directory", () => {
    fc.assert(
      fc.property(str(24), (tail) => {
        const uri = `file:///docs/${tail}`;
        if (!granted(uri, [DOCS])) return;
        const path = decodeBytes(new URL(uri).pathname);
        expect(path.startsWith("/docs/")).toBe(true);
        expect(path.split("/")).not.toContain("..");
      }),
      { numRuns: 5000 },
    );
  });

  it("a granted https: URI keeps the granted host and path prefix after resolution", () => {
    fc.assert(
      fc.property(str(24), (tail) => {
        const uri = `${WIKI.slice(0, -1)}${tail}`;
        if (!granted(uri, [WIKI])) return;
        const u = new URL(uri);
        expect(u.host).toBe("wiki.example.com");
        expect(decodeBytes(u.pathname).startsWith("/pages/")).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it("inserting a dot segment anywhere into a granted URI gets it refused", () => {
    fc.assert(
      fc.property(
        str(10),
        str(10),
        fc.constantFrom("..", "."),
        fc.constantFrom("/", "?", "#", ";"),
        (a, b, dots, sep) => {
          const uri = `file:///docs/${a}/${dots}${sep}${b}`;
          expect(uriProblem(uri)).toBeDefined();
        },
      ),
    );
  });
});
