// Debian packages fetched by exact version and checked against a pinned sha256, then unpacked: the
// shared libraries the Node binary links against come from here, not from the build machine's /lib,
// so the runtime layer is the same on every machine that builds it.
//
// `apt-get download` asks the configured Debian mirror (this project's machines run Debian 12). A
// mirror keeps only the current version of each package: when a point release replaces a pinned
// version, the download fails and the error says how to move the pin (a reviewed change, never
// silent).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface DebianPackage {
  name: string;
  version: string;
  arch: "amd64";
  /** sha256 of the .deb as the mirror serves it (apt-cache show NAME=VERSION | grep SHA256). */
  sha256: string;
}

export function debFileName(p: DebianPackage): string {
  // apt encodes ':' of an epoch as %3a in file names; none of ours has an epoch.
  return `${p.name}_${p.version}_${p.arch}.deb`;
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function run(cmd: string, args: string[], cwd?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000 });
  if (r.error) return { ok: false, out: `${cmd}: ${r.error.message}` };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

function pinHelp(p: DebianPackage): string {
  return (
    `The pinned ${p.name}=${p.version} could not be fetched. If the mirror moved on (a Debian point ` +
    `or security release), update the pin in scripts/images/runtime.ts: run \`apt-get update && ` +
    `apt-cache show ${p.name} | grep -E '^(Version|SHA256)'\` and put the new version and SHA256 there.`
  );
}

/**
 * The .deb of each package in `cacheDir`, downloading what is missing. A cached or downloaded file
 * whose sha256 differs from the pin is deleted and reported: nothing unpinned reaches an image.
 */
export function fetchDebianPackages(
  packages: readonly DebianPackage[],
  cacheDir: string,
): Map<string, string> {
  mkdirSync(cacheDir, { recursive: true });
  const out = new Map<string, string>();
  let updated = false;
  for (const p of packages) {
    const file = join(cacheDir, debFileName(p));
    if (!existsSync(file)) {
      const tmp = join(cacheDir, `download-${process.pid}`);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      // Runs as root here; the option keeps apt from trying to drop to the _apt user, which cannot
      // write into the project's cache directory.
      const download = () =>
        run(
          "apt-get",
          ["-o", "APT::Sandbox::User=root", "download", `${p.name}:${p.arch}=${p.version}`],
          tmp,
        );
      let r = download();
      if (!r.ok && !updated) {
        // A fresh machine may have no package lists yet, or stale ones.
        updated = true;
        const u = run("apt-get", ["update"]);
        if (!u.ok) throw new Error(`apt-get update failed:\n${u.out}`);
        r = download();
      }
      if (!r.ok) {
        rmSync(tmp, { recursive: true, force: true });
        throw new Error(`apt-get download ${p.name}=${p.version} failed:\n${r.out}\n${pinHelp(p)}`);
      }
      renameSync(join(tmp, debFileName(p)), file);
      rmSync(tmp, { recursive: true, force: true });
    }
    const actual = sha256File(file);
    if (actual !== p.sha256) {
      rmSync(file, { force: true });
      throw new Error(
        `${debFileName(p)}: sha256 ${actual} does not match the pin ${p.sha256}; the file was deleted. ${pinHelp(p)}`,
      );
    }
    out.set(p.name, file);
  }
  return out;
}

/** Unpacks a .deb's files into `dest` (dpkg-deb -x; no maintainer scripts run). */
export function unpackDeb(deb: string, dest: string): void {
  mkdirSync(dest, { recursive: true });
  const r = run("dpkg-deb", ["-x", deb, dest]);
  if (!r.ok) throw new Error(`dpkg-deb -x ${deb} failed (Debian's dpkg-deb is required):\n${r.out}`);
}

/** The package's control fields (dpkg-deb -f), for the image's dpkg status so scanners see it. */
export function debControl(deb: string): string {
  const r = run("dpkg-deb", ["-f", deb]);
  if (!r.ok) throw new Error(`dpkg-deb -f ${deb} failed:\n${r.out}`);
  return `${r.out}\n`;
}
