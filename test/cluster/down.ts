// npm run cluster:down — stops the control plane started by `npm run cluster:up`; with --purge
// also deletes its etcd data and certificates.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { defaultStateDir } from "./local-cluster.ts";

const dir = defaultStateDir();
const infoFile = join(dir, "cluster.json");
if (!existsSync(infoFile)) {
  console.log("no local control plane is running (nothing in .cache/cluster)");
} else {
  const { pid } = JSON.parse(readFileSync(infoFile, "utf8")) as { pid: number };
  try {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100; i++) {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 200));
    }
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
  rmSync(infoFile, { force: true });
  console.log(`stopped the local control plane (pid ${pid})`);
}
if (process.argv.includes("--purge")) {
  rmSync(dir, { recursive: true, force: true });
  console.log(`removed ${dir}`);
}
