// Watching a mounted file. Kubelet updates ConfigMap/Secret volumes by swapping a `..data`
// symlink in the directory, so watching the file itself misses updates: we watch the directory,
// debounce, and also re-check on an interval because inotify events can be lost.
import { type FSWatcher, readFileSync, statSync, watch } from "node:fs";
import { dirname } from "node:path";

export interface Watched {
  close(): void;
}

/** Calls `onChange` (debounced) whenever any of `files` may have changed. */
export function watchFiles(files: readonly string[], onChange: () => void, pollMs = 2000): Watched {
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, 50);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, fire);
      w.on("error", () => {});
      watchers.push(w);
    } catch {
      // The directory may not exist yet; the poll below notices when it appears.
    }
  }
  const sig = () =>
    files
      .map((f) => {
        try {
          const s = statSync(f);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return "missing";
        }
      })
      .join("|");
  let last = sig();
  const poll = setInterval(() => {
    const now = sig();
    if (now !== last) {
      last = now;
      fire();
    }
  }, pollMs);
  poll.unref();
  return {
    close() {
      if (timer) clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}

export function readText(file: string): string {
  return readFileSync(file, "utf8");
}
