import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GoParseError, hostname, k8sParseCIDR, parseAddr, parseRequestURI } from "./go-net.ts";

// Expected results are Go 1.26's (net/netip, net/url), which the API server's CEL libraries call.
describe("netip.ParsePrefix as the Kubernetes isCIDR() sees it", () => {
  const table: [string, boolean][] = [
    ["10.0.0.0/8", true],
    ["10.1.2.3/8", true], // host bits may be set
    ["0.0.0.0/0", true],
    ["2001:db8::/32", true],
    ["::/0", true],
    ["::1/128", true],
    ["10.0.0.0/33", false],
    ["2001:db8::/129", false],
    ["10.0.0.0/08", false], // bits with a leading zero
    ["10.0.0.0/+8", false],
    ["10.0.0.0/-1", false],
    ["10.0.0.0/", false],
    ["10.0.0.0", false],
    ["010.0.0.0/8", false], // octet with a leading zero
    ["256.0.0.0/8", false],
    ["10.0.0/8", false],
    ["1.2.3.4.5/8", false],
    ["::ffff:10.0.0.0/104", false], // IPv4-mapped IPv6, refused by the Kubernetes library
    ["fe80::1%eth0/64", false], // zones cannot be in a prefix
    ["1::2::3/64", false],
    ["12345::/16", false],
    [" 10.0.0.0/8", false],
  ];
  for (const [s, ok] of table) {
    it(`${JSON.stringify(s)} → ${ok ? "CIDR" : "not a CIDR"}`, () => {
      if (ok) expect(() => k8sParseCIDR(s)).not.toThrow();
      else expect(() => k8sParseCIDR(s)).toThrow(GoParseError);
    });
  }
  it("IPv6 forms expand as Go expands them", () => {
    expect(parseAddr("::ffff:1.2.3.4").bytes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    expect(parseAddr("1::").bytes).toEqual([0, 1, ...Array(14).fill(0)]);
    expect(() => parseAddr("1:2:3:4:5:6:7::8")).toThrow(/must expand to at least one field/);
  });
});

describe("url.ParseRequestURI and Hostname as the Kubernetes url() library sees them", () => {
  const table: [string, { scheme: string; hostname: string } | "error"][] = [
    ["https://search.svc:8443/mcp", { scheme: "https", hostname: "search.svc" }],
    ["HTTPS://Search/mcp", { scheme: "https", hostname: "Search" }],
    ["http://[::1]:8080/mcp", { scheme: "http", hostname: "::1" }],
    ["https://user:pw@host/x", { scheme: "https", hostname: "host" }],
    ["https:///mcp", { scheme: "https", hostname: "" }],
    ["https:search", { scheme: "https", hostname: "" }], // opaque
    ["search-tools:8443", { scheme: "search-tools", hostname: "" }], // a scheme, then opaque
    ["/relative", { scheme: "", hostname: "" }],
    ["relative", "error"],
    ["", "error"],
    ["https://a:1:2/mcp", "error"], // Go 1.26: one colon in an http(s) host
    ["https://search:84x3/mcp", "error"],
    ["https://[1.2.3.4]/x", "error"],
    ["https://ho st/x", "error"],
    ["https://x%2Fy/", "error"], // escapes in a host only for non-ASCII bytes
    ["https://search/%zz", "error"],
    ["https://search/\u0007", "error"], // control character
    ["1http://x", "error"], // scheme must start with a letter: a relative path with a colon
    [":foo", "error"],
  ];
  for (const [s, want] of table) {
    it(`${JSON.stringify(s)} → ${want === "error" ? "parse error" : JSON.stringify(want)}`, () => {
      if (want === "error") expect(() => parseRequestURI(s)).toThrow(GoParseError);
      else {
        const u = parseRequestURI(s);
        expect({ scheme: u.scheme, hostname: hostname(u) }).toEqual(want);
      }
    });
  }
  it("any string either parses or fails with a GoParseError (no other exception)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), fc.string({ maxLength: 30 }), (a, b) => {
        for (const s of [a, `https://${a}/${b}`, `${a}/${b}`]) {
          try {
            hostname(parseRequestURI(s));
          } catch (e) {
            expect(e).toBeInstanceOf(GoParseError);
          }
          try {
            k8sParseCIDR(s);
          } catch (e) {
            expect(e).toBeInstanceOf(GoParseError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
