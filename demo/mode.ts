// How `npm run demo` tells the story: on a real node where this machine can run one, else as host
// processes beside a real API server, saying why. Pure: the entry point (demo.ts) supplies the
// node check (test/cluster/node.ts nodeSupport) and the flags.
import type { NodeSupport } from "../test/cluster/node.ts";

export interface DemoArgs {
  /** Every step, then a clean shutdown (no waiting for Ctrl-C). */
  ci: boolean;
  /** Tell it with host processes even where a node could run. */
  hostProcesses: boolean;
}

export const USAGE = "usage: npm run demo [-- --ci] [--host-processes]";

/** The flags; anything else is refused by name (a typo must not silently pick another story). */
export function parseDemoArgs(argv: readonly string[]): DemoArgs {
  const args: DemoArgs = { ci: false, hostProcesses: false };
  for (const a of argv) {
    if (a === "--ci") args.ci = true;
    else if (a === "--host-processes") args.hostProcesses = true;
    else throw new Error(`unknown argument ${JSON.stringify(a)}; ${USAGE}`);
  }
  return args;
}

export type DemoMode = { mode: "node" } | { mode: "host-processes"; why: string };

/** `support` is only asked for when the flags leave the choice open. */
export function chooseDemoMode(args: DemoArgs, support: () => NodeSupport): DemoMode {
  if (args.hostProcesses) return { mode: "host-processes", why: "--host-processes was given" };
  const s = support();
  if (!s.ok) return { mode: "host-processes", why: `no real node on this machine: ${s.why}` };
  return { mode: "node" };
}
