// Just enough DER to read a PKCS#10 request and write an X.509-SVID without an ASN.1 library:
// strict TLV reading (definite, minimal lengths; nothing past the end) and the few encoders the
// certificate template needs. Every read is bounded by the buffer it was given.

export class DERError extends Error {
  override readonly name = "DERError";
}

export interface TLV {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  body: number;
  /** Offset just past the content. */
  end: number;
}

/** Reads one TLV at `at`, which must end at or before `limit`. Multi-byte tags are refused. */
export function readTLV(buf: Uint8Array, at: number, limit: number = buf.length): TLV {
  if (at + 2 > limit) throw new DERError("truncated TLV");
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DERError("multi-byte tags are not used here");
  let len = buf[at + 1]!;
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new DERError("indefinite or oversized length");
    if (body + n > limit) throw new DERError("truncated length");
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[body + i]!;
    body += n;
    // DER: the shortest form only.
    if (len < 0x80 || (n > 1 && buf[at + 2] === 0)) throw new DERError("non-minimal length");
  }
  const end = body + len;
  if (end > limit) throw new DERError("content runs past its container");
  return { tag, start: at, body, end };
}

/** Reads a TLV with the expected tag. */
export function expectTLV(buf: Uint8Array, at: number, tag: number, limit: number, what: string): TLV {
  const t = readTLV(buf, at, limit);
  if (t.tag !== tag)
    throw new DERError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** The children of a constructed TLV, in order. */
export function children(buf: Uint8Array, parent: TLV): TLV[] {
  const out: TLV[] = [];
  for (let at = parent.body; at < parent.end; ) {
    const t = readTLV(buf, at, parent.end);
    out.push(t);
    at = t.end;
    if (out.length > 64) throw new DERError("too many elements");
  }
  return out;
}

export function slice(buf: Uint8Array, t: TLV): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.start, t.end - t.start);
}

export function content(buf: Uint8Array, t: TLV): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.body, t.end - t.body);
}

/** Dotted OID from an OBJECT IDENTIFIER TLV. */
export function oidOf(buf: Uint8Array, t: TLV): string {
  if (t.tag !== 0x06 || t.end === t.body) throw new DERError("not an OBJECT IDENTIFIER");
  const first = buf[t.body]!;
  const parts: number[] = [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80];
  let v = 0;
  for (let i = t.body + 1; i < t.end; i++) {
    const b = buf[i]!;
    if (v === 0 && b === 0x80) throw new DERError("non-minimal OID arc");
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) throw new DERError("OID arc too large");
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  if (buf[t.end - 1]! & 0x80) throw new DERError("truncated OID");
  return parts.join(".");
}

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0x81, n];
  if (n < 0x10000) return [0x82, n >> 8, n & 0xff];
  return [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
}

/** One TLV from a tag and content parts. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const head = Buffer.from([tag, ...lengthBytes(len)]);
  return Buffer.concat([head, ...parts], head.length + len);
}

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always in seconds with Z.
 */
export function derTime(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const y = d.getUTCFullYear();
  const body = `${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${iso.slice(2, 4)}${body}`, "latin1"));
  if (y < 0 || y > 9999) throw new DERError("time outside what X.509 can write");
  return tlv(0x18, Buffer.from(`${String(y).padStart(4, "0")}${body}`, "latin1"));
}
