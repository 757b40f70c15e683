// What both tellings of the demo share (on a real node: real-node.ts; as host processes:
// host-processes.ts): narration, a summary, and a cleanup registry that undoes everything started or
// created, in reverse order, once — on success, on failure and on Ctrl-C alike.

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** One indented paragraph of narration. */
export const say = (s = "") => console.log(s.replace(/^/gm, "    "));
export const step = (n: number, title: string) => console.log(`\n${bold(`[${n}] ${title}`)}`);

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s: ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export interface Story {
  /** Registers an undo step; one registered during a shutdown (Ctrl-C mid-step) runs at once. */
  onCleanup(what: string, fn: () => Promise<unknown> | unknown): void;
  /** A line for the final summary (and for the failure report: what worked before). */
  done(line: string): void;
  readonly shuttingDown: boolean;
  /** Undoes everything once and exits; later calls wait for the first. */
  shutdown(code: number): Promise<never>;
  /** Prints the summary with the time since the story began. */
  printSummary(): void;
  /** Reports a failure (or, during a Ctrl-C shutdown, nothing) and shuts down. */
  fail(err: unknown): Promise<never>;
  /**
   * Interactive mode: keeps the process alive until Ctrl-C (or SIGTERM) runs the shutdown. A bare
   * never-settling promise would not: with nothing else pending (the node runs detached) Node ends
   * the process at once with "unsettled top-level await" (exit 13), cleanup never run.
   */
  waitForSignal(): Promise<never>;
}

/**
 * `finalWords` runs after every cleanup: the line that says what was undone (and, on the node,
 * whether teardown left anything); it may turn a clean exit into a failing one by returning a code.
 */
export function startStory(finalWords: () => Promise<number | undefined> | number | undefined): Story {
  const started = Date.now();
  const cleanups: { what: string; fn: () => Promise<unknown> | unknown }[] = [];
  const summary: string[] = [];
  let shuttingDown = false;
  let stopping: Promise<never> | undefined;

  const shutdown = (code: number): Promise<never> => {
    stopping ??= (async () => {
      shuttingDown = true;
      console.log("\nshutting down…");
      for (const c of cleanups.reverse()) {
        try {
          await withTimeout(Promise.resolve(c.fn()), 120_000, `cleanup: ${c.what}`);
        } catch (err) {
          console.error(`    cleanup of ${c.what} failed: ${(err as Error).message}`);
        }
      }
      let final = code;
      try {
        final = (await finalWords()) ?? code;
      } catch (err) {
        console.error(`    ${(err as Error).message}`);
        final = code || 1;
      }
      return process.exit(final);
    })();
    return stopping;
  };
  process.on("SIGINT", () => void shutdown(130));
  process.on("SIGTERM", () => void shutdown(143));

  return {
    onCleanup(what, fn) {
      if (shuttingDown) void Promise.resolve(fn()).catch(() => undefined);
      else cleanups.push({ what, fn });
    },
    done: (line) => void summary.push(line),
    get shuttingDown() {
      return shuttingDown;
    },
    shutdown,
    printSummary() {
      console.log(`\n${bold("Summary")} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
      for (const line of summary) console.log(`  ✔ ${line}`);
    },
    waitForSignal: () =>
      new Promise<never>(() => {
        setInterval(() => {}, 2 ** 30);
      }),
    async fail(err) {
      // A step cut short by Ctrl-C is not a failure to report: the shutdown is already under way.
      if (shuttingDown) return shutdown(130);
      console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
      if (summary.length) {
        console.error("what worked before the failure:");
        for (const line of summary) console.error(`  ✔ ${line}`);
      }
      return shutdown(1);
    },
  };
}

/** One admission denial message as its `[rule] field: message` lines. */
export function denialReasons(stderr: string): string[] {
  const m = /violates \d+ rule\(s\): (.*)$/m.exec(stderr);
  return m ? m[1]!.split("; ").map((s) => s.trim()) : [stderr.trim()];
}
