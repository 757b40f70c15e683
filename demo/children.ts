// The demo's child processes (webhook, gateways): spawned with Node 24, their output kept as lines
// so the demo can wait for a readiness line, and stopped on shutdown — SIGTERM first, SIGKILL if
// they do not exit within a few seconds.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");
export const NODE = join(ROOT, "node_modules", ".bin", "node");

export interface Child {
  name: string;
  process: ChildProcess;
  lines: string[];
  /** Resolves with the first line (seen so far or later) `match` accepts; rejects on exit or timeout. */
  waitForLine<T>(what: string, match: (line: string) => T | undefined, timeoutMs: number): Promise<T>;
  stop(): Promise<void>;
}

export function startChild(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  echo: boolean = process.env.WARDEN_DEMO_VERBOSE === "1",
): Child {
  const child = spawn(NODE, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
    if (echo) for (const l of parts) process.stderr.write(`      [${name}] ${l}\n`);
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.once("exit", () => {
    for (const l of listeners) l();
  });
  const tail = () => lines.slice(-15).join("\n      ");
  return {
    name,
    process: child,
    lines,
    waitForLine: (what, match, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (const l of lines) {
            const v = match(l);
            if (v !== undefined) return done(() => resolve(v));
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            done(() =>
              reject(
                new Error(
                  `${name} exited (${child.exitCode ?? child.signalCode}) before ${what}:\n      ${tail()}`,
                ),
              ),
            );
          }
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(
                new Error(`${name}: timed out after ${timeoutMs} ms waiting for ${what}:\n      ${tail()}`),
              ),
            ),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** A JSON log line's field, when the line is JSON and has it. */
export function jsonField(line: string, msg: string, field: string): string | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.msg !== msg && o.message !== msg) return undefined;
    const v = o[field];
    return v === undefined ? undefined : String(v);
  } catch {
    return undefined;
  }
}
