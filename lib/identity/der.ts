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

/** Bytes a TLV takes whose content is `contentLength` bytes long. */
export function tlvSize(contentLength: number): number {
  return (
    (contentLength < 0x80 ? 2 : contentLength < 0x100 ? 3 : contentLength < 0x10000 ? 4 : 5) + contentLength
  );
}

/**
 * Writes a tag and the DER length of `contentLength` at `at` and returns where the content goes.
 * For writers that know every length up front and fill one buffer (no intermediate Buffers).
 */
export function writeHeader(buf: Uint8Array, at: number, tag: number, contentLength: number): number {
  buf[at++] = tag;
  if (contentLength < 0x80) {
    buf[at++] = contentLength;
  } else if (contentLength < 0x100) {
    buf[at++] = 0x81;
    buf[at++] = contentLength;
  } else if (contentLength < 0x10000) {
    buf[at++] = 0x82;
    buf[at++] = contentLength >> 8;
    buf[at++] = contentLength & 0xff;
  } else {
    if (contentLength >= 0x1000000) throw new DERError("content too long");
    buf[at++] = 0x83;
    buf[at++] = contentLength >> 16;
    buf[at++] = (contentLength >> 8) & 0xff;
    buf[at++] = contentLength & 0xff;
  }
  return at;
}

/** Writes `bytes` at `at` and returns the offset past them. */
export function writeBytes(buf: Uint8Array, at: number, bytes: Uint8Array): number {
  buf.set(bytes, at);
  return at + bytes.length;
}

/** Whether X.509 writes `d` as UTCTime (1950–2049) rather than GeneralizedTime (RFC 5280 §4.1.2.5). */
function isUTCTime(y: number): boolean {
  return y >= 1950 && y < 2050;
}

/** Bytes the DER time TLV of `d` takes: UTCTime 15, GeneralizedTime 17. */
export function timeSize(d: Date): number {
  return isUTCTime(d.getUTCFullYear()) ? 15 : 17;
}

function writeDigits(buf: Uint8Array, at: number, value: number, digits: number): number {
  for (let i = digits - 1; i >= 0; i--) {
    buf[at + i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
  return at + digits;
}

/**
 * Writes the DER time TLV of `d` at `at` (whole seconds, `Z`; UTCTime through 2049, GeneralizedTime
 * from 2050, RFC 5280 §4.1.2.5) and returns the offset past it. Sub-second parts are dropped.
 */
export function writeTime(buf: Uint8Array, at: number, d: Date): number {
  const y = d.getUTCFullYear();
  if (!Number.isFinite(y) || y < 0 || y > 9999) throw new DERError("time outside what X.509 can write");
  const utc = isUTCTime(y);
  at = writeHeader(buf, at, utc ? 0x17 : 0x18, utc ? 13 : 15);
  at = utc ? writeDigits(buf, at, y % 100, 2) : writeDigits(buf, at, y, 4);
  at = writeDigits(buf, at, d.getUTCMonth() + 1, 2);
  at = writeDigits(buf, at, d.getUTCDate(), 2);
  at = writeDigits(buf, at, d.getUTCHours(), 2);
  at = writeDigits(buf, at, d.getUTCMinutes(), 2);
  at = writeDigits(buf, at, d.getUTCSeconds(), 2);
  buf[at++] = 0x5a; // Z
  return at;
}

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always in seconds with Z.
 */
export function derTime(d: Date): Buffer {
  if (Number.isNaN(d.getTime())) throw new DERError("time outside what X.509 can write");
  const out = Buffer.allocUnsafe(timeSize(d));
  writeTime(out, 0, d);
  return out;
}
