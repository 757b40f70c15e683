// nodeSupport() says plainly why a node cannot run: checked for real by asking it as an unprivileged
// user: the e2e tier's "no node here" report relies on this sentence.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { nodeSupport } from "../node.ts";

const nodeTs = fileURLToPath(new URL("../node.ts", import.meta.url));

test("as a user other than root, a node is refused with the reason, not attempted", () => {
  const asNobody = spawnSync(
    "setpriv",
    [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--",
      process.execPath,
      "--input-type=module",
      "-e",
      `const m = await import(${JSON.stringify(nodeTs)}); console.log(JSON.stringify(m.nodeSupport()));`,
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  // Where this test itself does not run as root, setpriv cannot switch users: the process is
  // already unprivileged, so ask it directly.
  const support =
    process.getuid?.() === 0
      ? (JSON.parse(asNobody.stdout.trim().split("\n").at(-1) ?? "null") as unknown)
      : nodeSupport();
  expect(support).toEqual({
    ok: false,
    why: expect.stringMatching(
      /^a node needs root \(it creates a network namespace, mounts, cgroups and iptables rules\); this process runs as uid \d+$/,
    ),
  });
});
