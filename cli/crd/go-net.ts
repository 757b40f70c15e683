// Go's net/netip.ParseAddr/ParsePrefix and net/url.ParseRequestURI (Go 1.26), ported line by line
// for the Kubernetes CEL libraries the CRDs use (isCIDR, isURL, url(...).getScheme/getHostname):
// the API server decides with exactly these parsers, so a JavaScript URL or IP parser (which
// accept and normalise differently) would make `warden check` and the API server disagree.
// Strings are treated as Go treats them, byte-wise on ASCII; non-ASCII never forms an address.

export class GoParseError extends Error {
  override name = "GoParseError";
}

export type Addr = { bytes: number[]; is6: boolean; zone: string };

function parseIPv4Fields(s: string, fields: number[], off: number): void {
  let val = 0;
  let pos = 0;
  let digLen = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (digLen === 1 && val === 0) throw new GoParseError("IPv4 field has octet with leading zero");
      val = val * 10 + (c - 0x30);
      digLen++;
      if (val > 255) throw new GoParseError("IPv4 field has value >255");
    } else if (s[i] === ".") {
      if (i === 0 || i === s.length - 1 || s[i - 1] === ".")
        throw new GoParseError("IPv4 field must have at least one digit");
      if (pos === 3) throw new GoParseError("IPv4 address too long");
      fields[off + pos] = val;
      pos++;
      val = 0;
      digLen = 0;
    } else {
      throw new GoParseError("unexpected character");
    }
  }
  if (pos < 3) throw new GoParseError("IPv4 address too short");
  fields[off + 3] = val;
}

function hexVal(c: string): number {
  const code = c.charCodeAt(0);
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  return -1;
}

function parseIPv6(input: string): Addr {
  let s = input;
  let zone = "";
  const pct = s.indexOf("%");
  if (pct !== -1) {
    zone = s.slice(pct + 1);
    s = s.slice(0, pct);
    if (zone === "") throw new GoParseError("zone must be a non-empty string");
  }
  const ip = new Array<number>(16).fill(0);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ":" && s[1] === ":") {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return { bytes: ip, is6: true, zone };
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const v = hexVal(s[off]!);
      if (v < 0) break;
      acc = acc * 16 + v;
      if (off > 3) throw new GoParseError("each group must have 4 or less digits");
      if (acc > 0xffff) throw new GoParseError("IPv6 field has value >=2^16");
    }
    if (off === 0) throw new GoParseError("each colon-separated field must have at least one digit");
    if (off < s.length && s[off] === ".") {
      if (ellipsis < 0 && i !== 12)
        throw new GoParseError("embedded IPv4 address must replace the final 2 fields of the address");
      if (i + 4 > 16)
        throw new GoParseError("too many hex fields to fit an embedded IPv4 at the end of the address");
      parseIPv4Fields(s, ip, i);
      s = "";
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ":") throw new GoParseError("unexpected character, want colon");
    if (s.length === 1) throw new GoParseError("colon must be followed by more characters");
    s = s.slice(1);
    if (s[0] === ":") {
      if (ellipsis >= 0) throw new GoParseError("multiple :: in address");
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) throw new GoParseError("trailing garbage after address");
  if (i < 16) {
    if (ellipsis < 0) throw new GoParseError("address string too short");
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j]!;
    for (let j = ellipsis; j < ellipsis + n; j++) ip[j] = 0;
  } else if (ellipsis >= 0) {
    throw new GoParseError("the :: must expand to at least one field of zeros");
  }
  return { bytes: ip, is6: true, zone };
}

/** netip.ParseAddr. */
export function parseAddr(s: string): Addr {
  for (const c of s) {
    if (c === ".") {
      const fields = [0, 0, 0, 0];
      parseIPv4Fields(s, fields, 0);
      return { bytes: fields, is6: false, zone: "" };
    }
    if (c === ":") return parseIPv6(s);
    if (c === "%") throw new GoParseError("missing IPv6 address");
  }
  throw new GoParseError("unable to parse IP");
}

/** netip.Addr.Is4In6: ::ffff:a.b.c.d. */
export function is4In6(a: Addr): boolean {
  return a.is6 && a.bytes.slice(0, 10).every((b) => b === 0) && a.bytes[10] === 0xff && a.bytes[11] === 0xff;
}

/** netip.ParsePrefix. */
export function parsePrefix(s: string): { addr: Addr; bits: number } {
  const i = s.lastIndexOf("/");
  if (i < 0) throw new GoParseError("no '/'");
  const addr = parseAddr(s.slice(0, i));
  if (addr.is6 && addr.zone !== "") throw new GoParseError("IPv6 zones cannot be present in a prefix");
  const bitsStr = s.slice(i + 1);
  if (bitsStr.length > 1 && (bitsStr[0]! < "1" || bitsStr[0]! > "9"))
    throw new GoParseError(`bad bits after slash: ${JSON.stringify(bitsStr)}`);
  // strconv.Atoi: optional sign, decimal digits, fits in int.
  if (!/^[+-]?[0-9]+$/.test(bitsStr))
    throw new GoParseError(`bad bits after slash: ${JSON.stringify(bitsStr)}`);
  const bits = Number(bitsStr);
  const maxBits = addr.is6 ? 128 : 32;
  if (bits < 0 || bits > maxBits) throw new GoParseError("prefix length out of range");
  return { addr, bits };
}

/** The Kubernetes CEL library's parseCIDR: netip.ParsePrefix, refusing IPv4-mapped IPv6. */
export function k8sParseCIDR(s: string): { addr: Addr; bits: number } {
  const p = parsePrefix(s);
  if (is4In6(p.addr)) throw new GoParseError(`IPv4-mapped IPv6 address ${JSON.stringify(s)} is not allowed`);
  return p;
}

// ---- net/url -------------------------------------------------------------------------------------

/** Bytes net/url leaves unescaped in a host (and zone): encoding_table.go's encodeHost column. */
const HOST_OK = new Set(
  "!\"$&'()*+,-.0123456789:;<=>ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~",
);

const isHex = (c: string | undefined) => c !== undefined && hexVal(c) >= 0;

type Mode = "host" | "zone" | "path" | "user";

function goUnescape(s: string, mode: Mode): string {
  let out = "";
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    if (c === "%") {
      if (i + 2 >= s.length || !isHex(s[i + 1]) || !isHex(s[i + 2]))
        throw new GoParseError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      if (mode === "host" && hexVal(s[i + 1]!) < 8 && s.slice(i, i + 3) !== "%25")
        throw new GoParseError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      const v = hexVal(s[i + 1]!) * 16 + hexVal(s[i + 2]!);
      if (
        mode === "zone" &&
        s.slice(i, i + 3) !== "%25" &&
        v !== 0x20 &&
        !HOST_OK.has(String.fromCharCode(v))
      )
        throw new GoParseError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      out += String.fromCharCode(v);
      i += 3;
      continue;
    }
    if ((mode === "host" || mode === "zone") && c.charCodeAt(0) < 0x80 && !HOST_OK.has(c))
      throw new GoParseError(`invalid character ${JSON.stringify(c)} in host name`);
    out += c;
    i++;
  }
  return out;
}

function validOptionalPort(port: string): boolean {
  if (port === "") return true;
  if (port[0] !== ":") return false;
  return /^[0-9]*$/.test(port.slice(1));
}

function validUserinfo(s: string): boolean {
  return /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(s);
}

function parseHost(scheme: string, host: string): string {
  const open = host.lastIndexOf("[");
  if (open > 0) throw new GoParseError("invalid IP-literal");
  if (open === 0) {
    const close = host.lastIndexOf("]");
    if (close < 0) throw new GoParseError("missing ']' in host");
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort))
      throw new GoParseError(`invalid port ${JSON.stringify(colonPort)} after host`);
    const port = goUnescape(colonPort, "host");
    const hostname = host.slice(1, close);
    const z = hostname.indexOf("%25");
    const unescaped =
      z >= 0
        ? goUnescape(hostname.slice(0, z), "host") + goUnescape(hostname.slice(z), "zone")
        : goUnescape(hostname, "host");
    const addr = parseAddr(unescaped);
    if (!addr.is6) throw new GoParseError("invalid IP-literal");
    return `[${unescaped}]${port}`;
  }
  let i = host.indexOf(":");
  if (i !== -1) {
    const last = host.lastIndexOf(":");
    // Go 1.26 (urlstrictcolons=1): several colons are an error for http(s) only.
    if (last !== i && scheme !== "http" && scheme !== "https") i = last;
    const colonPort = host.slice(i);
    if (!validOptionalPort(colonPort))
      throw new GoParseError(`invalid port ${JSON.stringify(colonPort)} after host`);
  }
  return goUnescape(host, "host");
}

export interface GoURL {
  scheme: string;
  opaque: string;
  host: string;
  path: string;
  rawQuery: string;
}

function getScheme(raw: string): { scheme: string; rest: string } {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z")) continue;
    if ((c >= "0" && c <= "9") || c === "+" || c === "-" || c === ".") {
      if (i === 0) return { scheme: "", rest: raw };
      continue;
    }
    if (c === ":") {
      if (i === 0) throw new GoParseError("missing protocol scheme");
      return { scheme: raw.slice(0, i), rest: raw.slice(i + 1) };
    }
    return { scheme: "", rest: raw };
  }
  return { scheme: "", rest: raw };
}

/** url.ParseRequestURI (url.parse with viaRequest = true). */
export function parseRequestURI(raw: string): GoURL {
  for (let i = 0; i < raw.length; i++) {
    const b = raw.charCodeAt(i);
    if (b < 0x20 || b === 0x7f) throw new GoParseError("net/url: invalid control character in URL");
  }
  if (raw === "") throw new GoParseError("empty url");
  const u: GoURL = { scheme: "", opaque: "", host: "", path: "", rawQuery: "" };
  if (raw === "*") return { ...u, path: "*" };
  const gs = getScheme(raw);
  u.scheme = gs.scheme.toLowerCase();
  let rest = gs.rest;
  if (rest.endsWith("?") && rest.split("?").length === 2) rest = rest.slice(0, -1);
  else {
    const q = rest.indexOf("?");
    if (q >= 0) {
      u.rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith("/")) {
    if (u.scheme !== "") return { ...u, opaque: rest };
    throw new GoParseError("invalid URI for request");
  }
  if (u.scheme !== "" && rest.startsWith("//")) {
    let authority = rest.slice(2);
    rest = "";
    const slash = authority.indexOf("/");
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const at = authority.lastIndexOf("@");
    u.host = parseHost(u.scheme, at < 0 ? authority : authority.slice(at + 1));
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      if (!validUserinfo(userinfo)) throw new GoParseError("net/url: invalid userinfo");
      const colon = userinfo.indexOf(":");
      if (colon < 0) goUnescape(userinfo, "user");
      else {
        goUnescape(userinfo.slice(0, colon), "user");
        goUnescape(userinfo.slice(colon + 1), "user");
      }
    }
  }
  u.path = goUnescape(rest, "path");
  return u;
}

/** url.URL.Hostname(): the host without port and IPv6 brackets. */
export function hostname(u: GoURL): string {
  let host = u.host;
  const colon = host.lastIndexOf(":");
  if (colon !== -1 && validOptionalPort(host.slice(colon))) host = host.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return host;
}
