// `npm run demo -- --ci` on this machine, as a new user runs it: it brings up a real node of its own
// (beside the e2e tier's shared one, like the node teardown tests), builds and imports the images,
// installs the chart with Helm, applies manifests/samples, runs a tool server and an agent as pods,
// and tells each step. Every step's observable outcome is asserted from what the demo prints and
// its exit code; after it exits, the machine itself shows that its node left nothing behind.
import { join } from "node:path";
import { describe, expect, inject, test } from "vitest";
import { chooseDemoMode } from "../../demo/mode.ts";
import { PROJECT_ROOT } from "../cluster/local-cluster.ts";
import { nodeSupport } from "../cluster/node.ts";
import { machineState, NOTHING } from "../support/machine-state.ts";
import { run } from "../support/process.ts";

const node = inject("node");

if (!node) {
  const why = inject("noNodeReason");
  test(`NO NODE ON THIS MACHINE, the demo's real-node story was not run: ${why}`, () => {
    // What `npm run demo` does here instead: says why, and tells the story with host processes
    // (test/integration/demo.test.ts runs that fallback).
    const support = nodeSupport();
    if (!support.ok) {
      expect(chooseDemoMode({ ci: true, hostProcesses: false }, () => support)).toEqual({
        mode: "host-processes",
        why: `no real node on this machine: ${support.why}`,
      });
    }
    expect(process.env.WARDEN_REQUIRE_NODE, "this run requires a real node").not.toBe("1");
  });
} else {
  describe("npm run demo -- --ci on a real node", () => {
    // Its own node, images and Helm install on a machine shared with the rest of the e2e tier: the
    // run's bound, not the tier's 10-minute default, limits it.
    test("tells every step with pods on its own node, exits 0, and its node leaves nothing behind", {
      timeout: 1_560_000,
    }, async () => {
      const started = Date.now();
      const r = await run(join(PROJECT_ROOT, "node_modules", ".bin", "node"), ["demo/demo.ts", "--ci"], {
        cwd: PROJECT_ROOT,
        timeoutMs: 1_500_000,
      });
      const out = r.stdout;
      console.log(
        `[e2e-measure] ${JSON.stringify({ what: "npm run demo -- --ci (ms)", value: Date.now() - started })}`,
      );
      expect(r.code, `${out}\n${r.stderr}`).toBe(0);
      expect(out).toContain("agent-warden demo on a real node");
      expect(out).not.toContain("host processes");

      // Each step's summary line, in the order told.
      const summary = [
        /✔ node warden-node Ready in network namespace warden-[a-z0-9]+/,
        /✔ images: operator, webhook, gateway built and imported/,
        /✔ helm install: operator 2\/2 and webhook 2\/2 Ready in \d+s, leader agent-warden-operator-/,
        /✔ samples: enclave research-lab, 2 ToolManifests, 2 AgentIdentities Ready, \d+ NetworkPolicies/,
        /✔ pods: support-agent and ticket-tools Ready with the injected sidecar; SVID spiffe:\/\/cluster\.local\/ns\/agents-demo\/sa\/support-agent/,
        /✔ admission: an agent pod breaking warden's rules refused \(\d+ rules named\)/,
        /✔ calls: get_ticket allowed; ungranted delete_ticket \(ToolNotGranted\) and a bad id \(ArgumentConstraint\) denied at the sidecar/,
        /✔ approval: create_ticket held, approved by carol@example\.com through port-forward \+ token, then run/,
        /✔ credential: the server received the token from the Secret; the agent container never sees it/,
        /✔ NetworkPolicy: the bypass to the tool server's own port and the API server blocked; the inbound gateway reachable/,
        /✔ suspension: the agent's calls refused [\d.]+s after the patch/,
        /✔ audit: \d+ decisions from the pod verified by warden audit verify/,
      ];
      let at = out.indexOf("Summary");
      expect(at).toBeGreaterThan(0);
      for (const line of summary) {
        const m = line.exec(out.slice(at));
        expect(m, `${line} after the Summary heading`).not.toBeNull();
        at += m!.index;
      }

      // The details a platform engineer reads along the way.
      expect(out).toMatch(/warden-node\s+Ready\s+<none>\s+\S+\s+v1\.36\.\d+/);
      expect(out).toMatch(/agent-warden-operator\s+2\/2\s+2\s+2/);
      expect(out).toMatch(/agent-warden-webhook\s+2\/2\s+2\s+2/);
      expect(out).toMatch(/support-agent\s+research-lab\s+support-triage\s+True/);
      // READY 2/2: the agent container and the injected gateway sidecar.
      expect(out).toMatch(/support-agent-\S+\s+2\/2\s+Running/);
      expect(out).toMatch(/ticket-tools-\S+\s+2\/2\s+Running/);
      expect(out).toMatch(
        /sidecar warden-gateway \(ghcr\.io\/agent-warden\/gateway:\S+, restartPolicy Always\), mode outbound/,
      );
      expect(out).toMatch(
        /sidecar warden-gateway \(ghcr\.io\/agent-warden\/gateway:\S+, restartPolicy Always\), mode inbound/,
      );
      const svid =
        /SVID spiffe:\/\/cluster\.local\/ns\/agents-demo\/sa\/support-agent {2}notAfter (\S+) /.exec(out);
      expect(svid, "the SVID read from the sidecar").not.toBeNull();
      expect(Date.parse(svid![1]!)).toBeGreaterThan(started);
      // Refused by warden's own rules, not by Pod Security (which this pod satisfies).
      expect(out).toContain("✘ [container.readOnlyRootFilesystem]");
      expect(out).toMatch(/tools\/list → create_ticket, get_ticket {3}\(delete_ticket hidden/);
      expect(out).toMatch(
        /✔ get_ticket \{id: "TCK-1042"\} → allowed: get_ticket \{"id":"TCK-1042"\} done; credential received: sha256:[0-9a-f]{64}/,
      );
      expect(out).toMatch(/✘ delete_ticket .* → denied: .*rule ToolNotGranted/);
      expect(out).toMatch(/✘ get_ticket \{id: "TCK-1042' OR '1'='1"\} → denied: .*rule ArgumentConstraint/);
      expect(out).toContain(
        "the tool server's log shows the calls that reached it: get_ticket — nothing else",
      );
      expect(out).toMatch(/\$ curl http:\/\/127\.0\.0\.1:\d+\/approvals {3}→ 401/);
      expect(out).toMatch(
        /pending: create_ticket \{"queue":"support","title":"Printer on fire in building 2"\}/,
      );
      expect(out).toMatch(/✔ create_ticket → allowed after approval/);
      expect(out).toContain("(the same)");
      expect(out).toContain(
        "inside the agent container: the token is in no file and no environment variable",
      );
      expect(out).toMatch(/✔ agent → ticket-tools's inbound gateway \S+:15443: connected/);
      expect(out).toMatch(/✘ agent → ticket-tools's own port \S+:8443 \(bypassing both gateways\): blocked/);
      expect(out).toMatch(/✘ agent → the API server \S+: blocked/);
      expect(out).toMatch(/warden audit verify audit\.jsonl --bundle bundle\.pem --allow-open {3}\(exit 0\)/);
      expect(out).toMatch(/allow get_ticket/);
      expect(out).toMatch(/deny {2}delete_ticket/);
      expect(out).toMatch(/create_ticket \(approved by carol@example\.com\)/);
      expect(out).toMatch(/deny {2}get_ticket \(ArgumentConstraint\)/);
      // The whole log is covered by a signed checkpoint (the demo waits for one).
      expect(out).toMatch(/OK: \d+ records, [1-9]\d* checkpoints?, signed through record [1-9]/);
      expect(out).not.toContain("UnverifiableTail");
      expect(out).toMatch(
        /✘ get_ticket → refused [\d.]+s after the patch: .*(AgentSuspended|SvidExpired|CallerNotAllowed)/,
      );
      expect(out).toContain("teardown left nothing (no process, mount, cgroup or network namespace)");

      // The machine's own view after the demo exited: no netns, cgroup, process or mount of its node.
      const ids = /node id ([a-z0-9]+); work dir (\S+); namespaces (mnt:\[\d+\]) (net:\[\d+\])/.exec(out);
      expect(ids, "the demo names its node").not.toBeNull();
      const [, id, dir, mnt, net] = ids as unknown as [string, string, string, string, string];
      expect(machineState({ id, dir, netns: `warden-${id}` }, { mnt, net })).toEqual(NOTHING);
    });
  });
}
