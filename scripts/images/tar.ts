// A deterministic tar writer (POSIX ustar, with PAX extended headers for names longer than ustar
// allows). Every header field that a stock `tar` would take from the file system — owner, group,
// modification time, user and group names — is an argument here with a fixed default, so the same
// entries always give the same bytes. Used for image layers and for the OCI archive around them.
import { createHash } from "node:crypto";

export type TarEntry =
  | { type: "file"; path: string; data: Uint8Array; mode: number; uid: number; gid: number; mtime: number }
  | { type: "dir"; path: string; mode: number; uid: number; gid: number; mtime: number }
  | { type: "symlink"; path: string; target: string; uid: number; gid: number; mtime: number };

const BLOCK = 512;
const ZERO_BLOCK = new Uint8Array(BLOCK);

/** Writes `value` as a zero-padded octal number in a field of `width` bytes (last byte NUL). */
function octal(buf: Buffer, offset: number, width: number, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= 8 ** (width - 1)) {
    throw new RangeError(`tar: ${value} does not fit a ${width}-byte octal field`);
  }
  buf.write(value.toString(8).padStart(width - 1, "0"), offset, width - 1, "ascii");
  buf[offset + width - 1] = 0;
}

/** One 512-byte header. `name`/`linkname` must already fit (the caller emits PAX records otherwise). */
function header(
  name: string,
  typeflag: string,
  size: number,
  mode: number,
  uid: number,
  gid: number,
  mtime: number,
  linkname = "",
): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, mode & 0o7777);
  octal(h, 108, 8, uid);
  octal(h, 116, 8, gid);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.write(typeflag, 156, 1, "ascii");
  h.write(linkname, 157, 100, "utf8");
  h.write("ustar\u0000", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  // uname/gname stay empty: numeric ids are what the runtime uses, and names would leak the builder.
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  // Checksum: the sum of all header bytes with the checksum field read as eight spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0"), 148, 6, "ascii");
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/** A PAX record "<len> key=value\n" where <len> counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  const digits = String(bodyLen).length;
  let len = bodyLen + digits;
  if (String(len).length > digits) len += 1;
  return `${len}${body}`;
}

function padding(size: number): Uint8Array {
  const rest = size % BLOCK;
  return rest === 0 ? new Uint8Array(0) : ZERO_BLOCK.subarray(0, BLOCK - rest);
}

/** The blocks of one entry: an optional PAX header for long names, the header, the data, padding. */
export function entryBlocks(e: TarEntry): Uint8Array[] {
  const name = e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
  const link = e.type === "symlink" ? e.target : "";
  const out: Uint8Array[] = [];
  const pax: string[] = [];
  if (Buffer.byteLength(name) > 100) pax.push(paxRecord("path", name));
  if (Buffer.byteLength(link) > 100) pax.push(paxRecord("linkpath", link));
  if (pax.length > 0) {
    const data = Buffer.from(pax.join(""), "utf8");
    // The PAX header's own name is fixed so the archive does not depend on anything but the entry.
    out.push(header("PaxHeader", "x", data.length, 0o644, 0, 0, e.mtime), data, padding(data.length));
  }
  const shortName = truncateUtf8(name, 100);
  const shortLink = truncateUtf8(link, 100);
  if (e.type === "file") {
    out.push(
      header(shortName, "0", e.data.length, e.mode, e.uid, e.gid, e.mtime),
      e.data,
      padding(e.data.length),
    );
  } else if (e.type === "dir") {
    out.push(header(shortName, "5", 0, e.mode, e.uid, e.gid, e.mtime));
  } else {
    out.push(header(shortName, "2", 0, 0o777, e.uid, e.gid, e.mtime, shortLink));
  }
  return out;
}

function truncateUtf8(s: string, max: number): string {
  const b = Buffer.from(s, "utf8");
  return b.length <= max
    ? s
    : b
        .subarray(0, max)
        .toString("utf8")
        .replace(/\uFFFD+$/, "");
}

/** The end-of-archive marker: two zero blocks. */
export function endBlocks(): Uint8Array[] {
  return [ZERO_BLOCK, ZERO_BLOCK];
}

/** A whole archive in memory as a list of chunks (not concatenated: layers can be large). */
export function tarChunks(entries: readonly TarEntry[]): Uint8Array[] {
  return [...entries.flatMap(entryBlocks), ...endBlocks()];
}

export function chunksLength(chunks: readonly Uint8Array[]): number {
  return chunks.reduce((n, c) => n + c.length, 0);
}

export function sha256Chunks(chunks: readonly Uint8Array[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

/** One entry read back from an archive (for tests and for listing layer contents). */
export interface ReadEntry {
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  target: string;
  data: Buffer;
}

function readOctal(b: Buffer, offset: number, width: number): number {
  const s = b.toString("ascii", offset, offset + width).replace(/[\0 ]+$/, "");
  return s === "" ? 0 : Number.parseInt(s, 8);
}

/**
 * Reads a ustar/PAX archive. Strict on purpose: a bad checksum, a truncated entry or a missing
 * end-of-archive marker throws, so a test that reads our own output also checks its framing.
 */
export function readTar(archive: Buffer): ReadEntry[] {
  const out: ReadEntry[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  for (;;) {
    if (off + BLOCK > archive.length) throw new Error(`tar: truncated at byte ${off}`);
    const h = archive.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      const next = archive.subarray(off + BLOCK, off + 2 * BLOCK);
      if (next.length !== BLOCK || !next.every((b) => b === 0)) {
        throw new Error(`tar: a single zero block at ${off} is not an end-of-archive marker`);
      }
      return out;
    }
    const stored = readOctal(h, 148, 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== stored) throw new Error(`tar: bad header checksum at byte ${off}`);
    if (h.toString("ascii", 257, 263) !== "ustar\u0000") throw new Error(`tar: not ustar at byte ${off}`);
    const size = readOctal(h, 124, 12);
    const typeflag = String.fromCharCode(h[156]!);
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > archive.length) throw new Error(`tar: entry at ${off} runs past the end`);
    const data = archive.subarray(dataStart, dataEnd);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === "x") {
      pax = parsePax(data);
      continue;
    }
    const cstr = (start: number, len: number) => {
      const raw = h.subarray(start, start + len);
      const nul = raw.indexOf(0);
      return raw.toString("utf8", 0, nul === -1 ? len : nul);
    };
    const prefix = cstr(345, 155);
    const name = pax.path ?? (prefix ? `${prefix}/${cstr(0, 100)}` : cstr(0, 100));
    const target = pax.linkpath ?? cstr(157, 100);
    pax = {};
    out.push({
      path: name,
      type: typeflag === "0" ? "file" : typeflag === "5" ? "dir" : typeflag === "2" ? "symlink" : "other",
      mode: readOctal(h, 100, 8),
      uid: readOctal(h, 108, 8),
      gid: readOctal(h, 116, 8),
      mtime: readOctal(h, 136, 12),
      target,
      data: Buffer.from(data),
    });
  }
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const len = Number.parseInt(data.toString("ascii", i, sp), 10);
    if (!Number.isInteger(len) || len <= 0) throw new Error("tar: malformed PAX record");
    const rec = data.toString("utf8", sp + 1, i + len - 1);
    const eq = rec.indexOf("=");
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}
