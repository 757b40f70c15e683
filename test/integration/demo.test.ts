// `npm run demo -- --ci --host-processes` end to end on the test cluster: the fallback story told
// where no node can run (forced here by the flag; the real-node story is test/e2e/demo.test.ts).
// The whole story (operator, webhook, issuer, gateways, MCP, audit) must finish with exit 0, say
// why it runs host processes, print every summary line, and leave no cluster-scoped object of its
// run behind. The demo suffixes its names with a per-run id on a reused cluster and scopes its
// webhook registration to its own namespace.
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { kubeconfigPath, kubectl, run } from "../support/kube.ts";
import { ROOT } from "../support/operator-process.ts";

describe("npm run demo -- --ci --host-processes", () => {
  it("says why it runs host processes, tells the whole story on the test cluster and cleans up after itself", {
    timeout: 300_000,
  }, async () => {
    const r = await run("npm", ["run", "demo", "--", "--ci", "--host-processes"], {
      cwd: ROOT,
      timeoutMs: 290_000,
      env: {
        ...process.env,
        PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`,
        KUBECONFIG: kubeconfigPath(),
        KUBECTL: JSON.stringify(inject("kubectl")),
      },
    });
    const out = r.stdout;
    expect(r.code, `${out}\n${r.stderr}`).toBe(0);
    expect(out).toContain("agent-warden demo with host processes: --host-processes was given.");
    expect(out).not.toContain("on a real node");
    expect(out).toContain("[cluster] using KUBECONFIG=");
    for (const line of [
      /✔ control plane: kubeconfig; CRDs installed; namespaces agent-warden-system(-[0-9a-f]{6})?, agents-demo/,
      /✔ operator: leader elected \(demo-[0-9a-f]{6}\), issuer at https:\/\/127\.0\.0\.1:\d+/,
      /✔ webhook: registered by URL with its CA bundle, effective in agents-demo(-[0-9a-f]{6})?/,
      /✔ samples: enclave research-lab, 2 ToolManifests, 2 AgentIdentities Ready, \d+ NetworkPolicies/,
      /✔ SVIDs: issued to both agents' pods/,
      /✔ admission: compliant Deployment admitted with sidecar, rogue one refused \(\d+ rules named\)/,
      /✔ MCP: tools filtered, web_search allowed, off-allowlist URL and unlisted tool denied at the gateway/,
      /✔ audit: \d+ records verified by warden audit verify \(OK\); an edited copy is caught/,
    ]) {
      expect(out).toMatch(line);
    }
    // The story's details, as a person reads them.
    expect(out).toMatch(/research-agent\s+research-lab\s+research-assistant\s+True/);
    expect(out).toMatch(
      /SVID spiffe:\/\/cluster\.local\/ns\/agents-demo(-[0-9a-f]{6})?\/sa\/research-agent {2}notAfter /,
    );
    expect(out).toContain("openssl verify against warden-trust-bundle: OK");
    expect(out).toContain('its pods get the sidecar "warden-gateway"');
    expect(out).toContain("[pod.hostNamespaces] spec.template.spec.hostNetwork");
    expect(out).toContain(
      "rule ArgumentConstraint: argument url: host evil.example.com is not in the allowlist",
    );
    expect(out).toContain("rule ToolNotGranted: tool delete_index is not granted");
    expect(out).toContain("the tool server executed: web_search×1 — nothing else");
    expect(out).toContain("stopped: every process the demo started");

    // Nothing cluster-scoped of this run is left behind.
    const run_ = /leader elected \(demo-([0-9a-f]{6})\)/.exec(out)![1]!;
    const left = await kubectl([
      "get",
      "clusterroles,clusterrolebindings,validatingwebhookconfigurations,mutatingwebhookconfigurations",
      "-o",
      "name",
    ]);
    expect(left.code, left.stderr).toBe(0);
    expect(left.stdout).not.toContain(run_);
    const demoNs = /agents' namespace (\S+)/.exec(out)![1]!;
    const ns = await kubectl(["get", "namespace", demoNs, "-o", "jsonpath={.status.phase}"]);
    expect(ns.code === 0 ? ns.stdout : "gone").toMatch(/^(gone|Terminating)$/);
  });
});
