// The demo's interactive mode waits for Ctrl-C in a module that is itself awaited by the entry
// point. With nothing else pending (the real-node story's node runs detached), a never-settling
// promise let Node end the process with "unsettled top-level await" (exit 13) and no cleanup: the
// node stayed up. This runs the same shape in a child and sends it SIGINT.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const NODE = join(ROOT, "node_modules", ".bin", "node");

function runStory(signal: NodeJS.Signals) {
  const script = [
    `const { startStory } = await import(${JSON.stringify(join(ROOT, "demo", "story.ts"))});`,
    "const story = startStory(() => { console.log('final words'); return undefined; });",
    "story.onCleanup('a thing', () => console.log('undone: a thing'));",
    "console.log('waiting for Ctrl-C');",
    "await story.waitForSignal();",
  ].join("\n");
  const child = spawn(NODE, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("waiting for Ctrl-C") && !child.killed) child.kill(signal);
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, out })),
  );
}

describe("story.waitForSignal", () => {
  it.each([
    { signal: "SIGINT" as const, code: 130 },
    { signal: "SIGTERM" as const, code: 143 },
  ])("stays up until $signal, then undoes everything and exits $code", async ({ signal, code }) => {
    const r = await runStory(signal);
    expect(r.out).not.toContain("unsettled top-level await");
    expect(r.out).toContain("undone: a thing");
    expect(r.out).toContain("final words");
    expect(r.code, r.out).toBe(code);
  });
});
