// Static checks of images/Dockerfile.* (no container engine exists on these machines): pinned Node 24
// bases, multi-stage with production dependencies only, non-root numeric USER, nothing fetched by
// URL, no shell in the runtime stage, and every source file the entrypoint imports copied in.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Parses a Dockerfile into instructions (comments dropped, `\` continuations joined). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!buf && (line === "" || line.startsWith("#"))) return;
    if (!buf) start = i + 1;
    buf += `${line.replace(/\\$/, "").trim()} `;
    if (!line.endsWith("\\")) {
      const m = /^(\S+)\s+(.*)$/.exec(buf.trim());
      if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
      buf = "";
    }
  });
  return out;
}

/** Splits instructions into stages at each FROM. */
function stages(ins: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of ins) {
    if (i.op === "FROM") out.push([i]);
    else out.at(-1)?.push(i);
  }
  return out;
}

/** Resolves `${ARG}` in a FROM line from the global ARG defaults. */
function resolveArgs(s: string, ins: Instruction[]): string {
  const args = new Map<string, string>();
  for (const i of ins) {
    if (i.op === "FROM") break;
    if (i.op === "ARG") {
      const [k, v] = i.args.split("=");
      if (k && v !== undefined) args.set(k, v);
    }
  }
  return s.replace(/\$\{(\w+)\}/g, (_m, k: string) => args.get(k) ?? `\${${k}}`);
}

/** Every .ts file reachable by relative imports (static, dynamic, or module paths in string constants). */
function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [resolve(ROOT, entry)];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    for (const m of src.matchAll(/["'](\.\.?\/[^"'\s]+\.ts)["']/g)) {
      const target = resolve(dirname(file), m[1]!);
      if (existsSync(target)) todo.push(target);
    }
  }
  return new Set([...seen].map((f) => relative(ROOT, f)));
}

const IMAGES = [
  { file: "images/Dockerfile.operator", entrypoints: ["operator/main.ts", "webhook/main.ts"] },
  { file: "images/Dockerfile.gateway", entrypoints: ["gateway/main.ts"] },
];

describe.each(IMAGES)("$file", ({ file, entrypoints }) => {
  const ins = parseDockerfile(readFileSync(join(ROOT, file), "utf8"));
  const st = stages(ins);
  const final = st.at(-1)!;
  const froms = st.map((s) => resolveArgs(s[0]!.args, ins));

  it("is multi-stage, and installs production dependencies only, without install scripts", () => {
    expect(st.length).toBeGreaterThanOrEqual(2);
    const installs = ins.filter((i) => i.op === "RUN" && /\bnpm\b/.test(i.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const i of installs) {
      expect(i.args, `line ${i.line}`).toMatch(/npm ci\b/);
      expect(i.args, `line ${i.line}`).toContain("--omit=dev");
      expect(i.args, `line ${i.line}`).toContain("--ignore-scripts");
    }
    // The final stage takes node_modules from the dependency stage, not from the build context.
    expect(final.some((i) => i.op === "COPY" && /--from=\w+.*node_modules/.test(i.args))).toBe(true);
  });

  it("pins every base image to Node 24 with an explicit version tag (never latest)", () => {
    for (const f of froms) {
      const image = f.split(/\s+/)[0]!;
      expect(image, f).not.toMatch(/\$\{/);
      expect(image, f).toMatch(/:[^/]+$/); // has a tag
      expect(image, f).not.toMatch(/:latest$/);
      expect(image, f).toMatch(/node(js)?:?24|nodejs24/);
    }
    expect(froms[0]).toMatch(/^node:24\.\d+\.\d+-bookworm-slim /);
    expect(froms.at(-1)).toMatch(/^gcr\.io\/distroless\/nodejs24-debian12:nonroot /);
  });

  it("runs the final stage as a numeric non-root user with no shell steps", () => {
    const users = final.filter((i) => i.op === "USER");
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.args.split(":").map(Number);
    expect(uid).toBe(65532);
    expect(gid).toBe(65532);
    // Distroless has no shell: a RUN here would fail, and nothing may write to the image at run time.
    expect(final.filter((i) => i.op === "RUN")).toEqual([]);
    // Copied files stay root-owned, so the non-root process cannot modify its own code.
    for (const c of final.filter((i) => i.op === "COPY"))
      expect(c.args, `line ${c.line}`).toContain("--chown=0:0");
  });

  it("fetches nothing by URL and uses no ADD", () => {
    expect(ins.filter((i) => i.op === "ADD")).toEqual([]);
    for (const i of ins) expect(`${i.op} ${i.args}`).not.toMatch(/\b(curl|wget)\b|https?:\/\//);
  });

  it("starts a Node 24 entrypoint that exists, in exec form", () => {
    const ep = final.find((i) => i.op === "ENTRYPOINT");
    const cmd = final.find((i) => i.op === "CMD");
    expect(JSON.parse(ep!.args)[0]).toBe("/nodejs/bin/node");
    const cmdArgs = JSON.parse(cmd!.args) as string[];
    expect(entrypoints).toContain(cmdArgs[0]);
    for (const e of entrypoints) expect(existsSync(join(ROOT, e)), e).toBe(true);
  });

  it("copies every source file its entrypoints import", () => {
    const copied = final
      .filter((i) => i.op === "COPY" && !i.args.includes("--from="))
      .map((i) => i.args.replace(/--\S+\s+/g, "").split(/\s+/)[0]!);
    const dockerignore = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const e of entrypoints) {
      for (const f of importClosure(e)) {
        const top = f.split("/")[0]!;
        expect(copied, `${f} (imported from ${e}) is not copied into the image`).toContain(top);
        expect(dockerignore, `${top}/ is excluded by .dockerignore but ${e} needs ${f}`).not.toContain(top);
      }
    }
  });
});

describe(".dockerignore", () => {
  const lines = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
  it("keeps local dependencies, caches, tests and VCS data out of the build context", () => {
    for (const p of ["node_modules", ".cache", ".git", "**/*.test.ts", "test", "dist", ".env"]) {
      expect(lines).toContain(p);
    }
  });
});
