// The DER writers the X.509-SVID template uses: header lengths in every length form, and the time
// writer against the string-built encoding it replaced, over every year X.509 can write.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DERError,
  derTime,
  readTLV,
  timeSize,
  tlv,
  tlvSize,
  writeBytes,
  writeHeader,
  writeTime,
} from "./der.ts";

/** The derTime before the one-buffer writer (toISOString sliced into UTCTime/GeneralizedTime). */
function referenceTime(d: Date): Buffer {
  const iso = d.toISOString();
  const y = d.getUTCFullYear();
  const body = `${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${iso.slice(2, 4)}${body}`, "latin1"));
  if (y < 0 || y > 9999) throw new DERError("time outside what X.509 can write");
  return tlv(0x18, Buffer.from(`${String(y).padStart(4, "0")}${body}`, "latin1"));
}

describe("writeHeader and tlvSize", () => {
  const cases: { name: string; length: number; header: string }[] = [
    { name: "short form, empty", length: 0, header: "30 00" },
    { name: "short form, largest", length: 0x7f, header: "30 7f" },
    { name: "one length byte, smallest", length: 0x80, header: "30 81 80" },
    { name: "one length byte, largest", length: 0xff, header: "30 81 ff" },
    { name: "two length bytes, smallest", length: 0x100, header: "30 82 01 00" },
    { name: "two length bytes, largest", length: 0xffff, header: "30 82 ff ff" },
    { name: "three length bytes", length: 0x10000, header: "30 83 01 00 00" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const buf = Buffer.alloc(8);
      const at = writeHeader(buf, 0, 0x30, c.length);
      expect(buf.subarray(0, at).toString("hex")).toBe(c.header.replace(/ /g, ""));
      expect(tlvSize(c.length)).toBe(at + c.length);
    });
  }

  it("refuses a length DER cannot carry in three bytes", () => {
    expect(() => writeHeader(Buffer.alloc(8), 0, 0x30, 0x1000000)).toThrow(DERError);
  });

  it("writes what tlv() builds and readTLV reads back (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 70_000 }), (tag, body) => {
        fc.pre((tag & 0x1f) !== 0x1f);
        const buf = Buffer.alloc(tlvSize(body.length));
        const end = writeBytes(buf, writeHeader(buf, 0, tag, body.length), body);
        expect(end).toBe(buf.length);
        expect(buf.equals(tlv(tag, body))).toBe(true);
        const t = readTLV(buf, 0);
        expect([t.tag, t.end - t.body, t.end]).toEqual([tag, body.length, buf.length]);
      }),
      { numRuns: 200 },
    );
  });
});

describe("writeTime / derTime", () => {
  const table: { name: string; at: string; der: string }[] = [
    { name: "UTCTime", at: "2026-12-06T12:34:56Z", der: "170d3236313230363132333435365a" },
    { name: "last UTCTime second", at: "2049-12-31T23:59:59Z", der: "170d3439313233313233353935395a" },
    {
      name: "first GeneralizedTime second",
      at: "2050-01-01T00:00:00Z",
      der: "180f32303530303130313030303030305a",
    },
    {
      name: "before 1950 is GeneralizedTime",
      at: "1949-12-31T23:59:59Z",
      der: "180f31393439313233313233353935395a",
    },
    {
      name: "milliseconds are dropped",
      at: "2026-01-02T03:04:05.999Z",
      der: "170d3236303130323033303430355a",
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const d = new Date(c.at);
      expect(derTime(d).toString("hex")).toBe(c.der);
      expect(timeSize(d)).toBe(c.der.length / 2);
    });
  }

  const refusals: { name: string; at: Date }[] = [
    { name: "an invalid date", at: new Date(Number.NaN) },
    { name: "a year past 9999", at: new Date("+010000-01-01T00:00:00Z") },
    { name: "a negative year", at: new Date("-000001-01-01T00:00:00Z") },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name}`, () => {
      expect(() => derTime(r.at)).toThrow(DERError);
    });
  }

  it("writes the same bytes as the string-built encoding for every representable second (property)", () => {
    const first = new Date(Date.UTC(2000, 0, 1)).setUTCFullYear(0); // Date.UTC maps years 0–99 to 1900s
    const last = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    fc.assert(
      fc.property(fc.integer({ min: first, max: last }), (ms) => {
        const d = new Date(ms);
        const ours = derTime(d);
        expect(ours.toString("hex")).toBe(referenceTime(d).toString("hex"));
        const buf = Buffer.alloc(ours.length + 3);
        expect(writeTime(buf, 3, d)).toBe(buf.length);
        expect(buf.subarray(3).equals(ours)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
