import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { readTar, type TarEntry, tarChunks } from "./tar.ts";

const work = mkdtempSync(join(tmpdir(), "warden-tar-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = { uid: 0, gid: 0, mtime: 0 };
const longDir = `${"d".repeat(60)}/${"e".repeat(60)}`;
const entries: TarEntry[] = [
  { type: "dir", path: "app", mode: 0o755, ...base },
  { type: "file", path: "app/main.js", data: Buffer.from("console.log(1)\n"), mode: 0o644, ...base },
  {
    type: "file",
    path: "app/run",
    data: Buffer.from("#!/bin/sh\n"),
    mode: 0o755,
    uid: 65532,
    gid: 65532,
    mtime: 1,
  },
  { type: "file", path: "app/empty", data: new Uint8Array(0), mode: 0o600, ...base },
  { type: "file", path: "app/block", data: Buffer.alloc(512, 7), mode: 0o644, ...base },
  { type: "symlink", path: "app/link", target: "main.js", ...base },
  { type: "dir", path: longDir, mode: 0o700, ...base },
  {
    type: "file",
    path: `${longDir}/ünïcode-${"f".repeat(40)}.txt`,
    data: Buffer.from("long"),
    mode: 0o644,
    ...base,
  },
  { type: "symlink", path: "app/longlink", target: `/${"t".repeat(120)}`, ...base },
];
const archive = Buffer.concat(tarChunks(entries));

describe("tarChunks", () => {
  it("reads back exactly what was written (names, modes, owners, mtimes, data, link targets)", () => {
    const back = readTar(archive);
    expect(back.map((e) => e.path)).toEqual(entries.map((e) => (e.type === "dir" ? `${e.path}/` : e.path)));
    back.forEach((r, i) => {
      const e = entries[i]!;
      expect(r.type).toBe(e.type);
      expect([r.uid, r.gid, r.mtime]).toEqual([e.uid, e.gid, e.mtime]);
      if (e.type === "file")
        expect([r.mode, Buffer.compare(r.data, Buffer.from(e.data))]).toEqual([e.mode, 0]);
      if (e.type === "symlink") expect(r.target).toBe(e.target);
    });
  });

  it("is a multiple of 512 bytes and ends with two zero blocks", () => {
    expect(archive.length % 512).toBe(0);
    expect(archive.subarray(-1024).every((b) => b === 0)).toBe(true);
  });

  it("is read the same way by GNU tar (listing and extraction)", () => {
    const file = join(work, "a.tar");
    writeFileSync(file, archive);
    const list = spawnSync("tar", ["--numeric-owner", "-tvf", file], { encoding: "utf8" });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stderr).toBe("");
    const lines = list.stdout.trim().split("\n");
    expect(lines).toHaveLength(entries.length);
    expect(lines[2]).toMatch(/^-rwxr-xr-x 65532\/65532 +10 1970-01-01 00:00 app\/run$/);
    expect(lines[5]).toMatch(/^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00 app\/link -> main\.js$/);
    const out = join(work, "x");
    const x = spawnSync("tar", ["-xf", file, "-C", work, "--one-top-level=x", "--no-same-owner"], {
      encoding: "utf8",
    });
    expect(x.status, x.stderr).toBe(0);
    expect(readFileSync(join(out, "app/main.js"), "utf8")).toBe("console.log(1)\n");
    expect(statSync(join(out, "app/run")).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(out, "app/longlink"))).toBe(`/${"t".repeat(120)}`);
    expect(readFileSync(join(out, `${longDir}/ünïcode-${"f".repeat(40)}.txt`), "utf8")).toBe("long");
  });

  it("gives the same bytes for the same entries", () => {
    expect(Buffer.concat(tarChunks(entries)).equals(archive)).toBe(true);
  });

  it("round-trips arbitrary names and contents (property)", () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._ü-]{1,70}$/).filter((s) => s !== "." && s !== "..");
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        fc.uint8Array({ maxLength: 1500 }),
        (segs, data) => {
          const path = segs.join("/");
          const e: TarEntry = { type: "file", path, data, mode: 0o640, uid: 7, gid: 8, mtime: 1_700_000_000 };
          const [r] = readTar(Buffer.concat(tarChunks([e])));
          expect(r!.path).toBe(path);
          expect(Buffer.compare(r!.data, Buffer.from(data))).toBe(0);
          expect([r!.mode, r!.uid, r!.gid, r!.mtime]).toEqual([0o640, 7, 8, 1_700_000_000]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("readTar rejects damaged archives", () => {
  const attacks: { name: string; bytes: () => Buffer; error: RegExp }[] = [
    {
      name: "flipped header byte (checksum)",
      bytes: () => {
        const b = Buffer.from(archive);
        b[1] = b[1]! ^ 1;
        return b;
      },
      error: /checksum/,
    },
    {
      name: "truncated in the middle of an entry",
      bytes: () => archive.subarray(0, 512 * 5 + 100),
      error: /truncated|past the end/,
    },
    {
      name: "no end-of-archive marker",
      bytes: () => archive.subarray(0, archive.length - 1024),
      error: /truncated/,
    },
    {
      name: "a single zero block before more data",
      bytes: () => Buffer.concat([Buffer.alloc(512), archive]),
      error: /single zero block/,
    },
    {
      name: "not ustar",
      bytes: () => {
        const b = Buffer.from(archive);
        b.write("gnutar", 257, "ascii");
        let sum = 0;
        b.fill(0x20, 148, 156);
        for (let i = 0; i < 512; i++) sum += b[i]!;
        b.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
        return b;
      },
      error: /not ustar/,
    },
  ];
  it.each(attacks)("$name", ({ bytes, error }) => {
    expect(() => readTar(bytes())).toThrow(error);
  });
});
