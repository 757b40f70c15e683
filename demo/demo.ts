// npm run demo — agent-warden's whole story, one command:
//   npm run demo                       interactive: keeps everything running until Ctrl-C
//   npm run demo -- --ci               bounded run for CI: every step, then a clean shutdown
//   npm run demo -- --host-processes   the fallback below, even where a node could run
// On a real node (real-node.ts) where this machine can run one: images, Helm, pods, NetworkPolicy.
// Where it cannot (not root, no namespaces: test/cluster/node.ts nodeSupport says which), it says
// why and tells the story with host processes beside a real API server (host-processes.ts).
import { nodeSupport } from "../test/cluster/node.ts";
import { chooseDemoMode, parseDemoArgs } from "./mode.ts";

let args: ReturnType<typeof parseDemoArgs>;
try {
  args = parseDemoArgs(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const mode = chooseDemoMode(args, nodeSupport);
if (mode.mode === "node") {
  console.log("agent-warden demo on a real node (pods, Helm, NetworkPolicy enforced)");
  await import("./real-node.ts");
} else {
  console.log(`agent-warden demo with host processes: ${mode.why}.`);
  console.log(
    "  (operator, webhook and gateways run as processes beside a real API server; no pod runs and no NetworkPolicy is enforced)",
  );
  await import("./host-processes.ts");
}
