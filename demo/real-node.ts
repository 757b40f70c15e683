// The demo told on a real node (test/cluster/node.ts: kubelet, containerd, CNI, kube-proxy,
// kube-router enforcing NetworkPolicy, CoreDNS, all in a network namespace of its own), the way a
// platform engineer meets agent-warden: images built here and imported into the node, the chart
// installed with Helm, the samples applied, a tool server and an agent as pods, and every claim
// checked from the outside (kubectl, helm) or from inside the agent container (kubectl exec).
// The parts that drive the node are the product e2e's own (test/support/warden-node.ts).
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import YAML from "yaml";
import { cacheDir, PROJECT_ROOT } from "../test/cluster/local-cluster.ts";
import { nodeLayout, nodePaths } from "../test/cluster/node/config.ts";
import { readStatus } from "../test/cluster/node/supervisor.ts";
import { isClean } from "../test/cluster/node/sweep.ts";
import { type NodeCluster, startNodeCluster, stopNodeClusterAt } from "../test/cluster/node.ts";
import type { Catalog } from "../test/e2e/tools/catalog.ts";
import { run } from "../test/support/process.ts";
import {
  agentDeployment,
  agentLabels,
  approversSecret,
  nodeChartValues,
  type PodInfo,
  secret,
  serviceAccount,
  TOOLS_ENTRYPOINT,
  toolServerWorkload,
  type Warden,
  waitFor,
  wardenOn,
  writeValues,
} from "../test/support/warden-node.ts";
import { NODE } from "./children.ts";
import { denialReasons, say, startStory, step } from "./story.ts";

const ci = process.argv.includes("--ci");
const SAMPLES = join(PROJECT_ROOT, "manifests", "samples");
const NS = "agents-demo";
const SYSTEM = "agent-warden-system";
const RELEASE = "agent-warden"; // fullname agent-warden: the Service names the docs use
const AGENT = "support-agent";
const SERVER = "ticket-tools";
const SERVER_PORT = 8443; // the sample ToolManifest's server.port
const GATEWAY_URL = `http://127.0.0.1:15001/servers/${SERVER}/mcp`;
const UNLISTED = "delete_ticket";
const APPROVER = "carol@example.com"; // the sample's approver of create_ticket
const AGENT_LABELS = { identity: AGENT, agentType: "support-triage", enclave: "research-lab" };

let dir: string | undefined;
let node: NodeCluster | undefined;
const story = startStory(async () => {
  if (!dir) return undefined;
  // Also after a Ctrl-C during the node's start: its record in `dir` says what to remove.
  const left = node ? await node.stop() : await stopNodeClusterAt(dir, (l) => say(l));
  if (!isClean(left)) {
    console.error(`teardown LEFT: ${JSON.stringify(left)}`);
    return 1;
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(
    "stopped: the node and everything on it; teardown left nothing (no process, mount, cgroup or network namespace)",
  );
  return undefined;
});

/** kubectl patch agentidentity <agent> --type=merge -p '{"spec":{"suspended":…}}' */
const suspend = (w: Warden, suspended: boolean) =>
  w.mustKubectl([
    "-n",
    NS,
    "patch",
    "agentidentity",
    AGENT,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { suspended } }),
  ]);

/** The kubectl a reader would type; the demo runs the node's own at the server's version. */
const shown = (args: string[]) => `$ kubectl ${args.join(" ")}`;

async function show(w: Warden, args: string[]): Promise<string> {
  const out = (await w.mustKubectl(args)).trimEnd();
  say(`${shown(args)}\n${out}`);
  return out;
}

type CallOutcome = {
  ok: boolean;
  result?: { content: { text: string }[] } | string[];
  error?: { code: number; message: string; data?: { rule?: string } };
};

const sha256 = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

try {
  step(1, "A real node: kubelet, containerd, CNI, kube-proxy, kube-router (NetworkPolicy), CoreDNS");
  mkdirSync(join(cacheDir(), "runs"), { recursive: true });
  dir = await mkdtemp(join(cacheDir(), "runs", "demo-"));
  // The first run on a machine builds the node's parts from the Go module proxy (~13 min, with
  // progress); later runs take them from .cache/bin.
  node = await startNodeCluster({ dir, log: (l) => say(l) });
  const w = wardenOn(node);
  say(`network namespace ${node.netns}; API server bridged to the host: ${node.kubeconfig}`);
  const st = readStatus(nodePaths(nodeLayout(node.id, node.dir)).status);
  // What the teardown check (and a person after Ctrl-C) looks for: nothing may be left in these.
  say(`node id ${node.id}; work dir ${node.dir}; namespaces ${st?.mntNs} ${st?.netNs}`);
  say(
    `node Ready ${((node.timings.nodeReady ?? 0) - (node.timings.built ?? 0)).toFixed(1)}s after launch, CoreDNS serving`,
  );
  await show(w, ["get", "nodes", "-o", "wide"]);
  story.done(`node ${node.nodeName} Ready in network namespace ${node.netns}`);

  step(2, "Images built here (npm run images, no container engine), imported into the node's containerd");
  const images = await w.productImages((l) => say(l));
  say(`[images] tools    ${images.digests.tools}  (the demo's agent and tool server: test/e2e/tools)`);
  say(`built in ${(images.buildMs / 1000).toFixed(1)}s, imported in ${(images.importMs / 1000).toFixed(1)}s`);
  story.done(`images: operator, webhook, gateway built and imported (tag ${images.tag})`);

  step(3, `helm install ${RELEASE} charts/agent-warden -n ${SYSTEM}`);
  const api = await w.apiServerEndpoint();
  const values = writeValues(join(dir, "demo-values.json"), nodeChartValues(images, api));
  const installStarted = Date.now();
  const installed = await w.helmInstall(RELEASE, SYSTEM, values);
  say(
    `$ helm install ${RELEASE} charts/agent-warden -n ${SYSTEM} --create-namespace -f demo-values.json --wait`,
  );
  say(
    installed
      .split("\n")
      .filter((l) => /^(NAME|STATUS|REVISION):/.test(l))
      .join("   "),
  );
  say(`(images pullPolicy Never: imported above; the API server's address in the enclave egress policy)`);
  await show(w, ["-n", SYSTEM, "get", "deployments"]);
  const lease = await w.getJson<{ spec: { holderIdentity: string } }>([
    "-n",
    SYSTEM,
    "get",
    "lease",
    `${RELEASE}-operator`,
  ]);
  say(`leader: ${lease.spec.holderIdentity} (Lease ${SYSTEM}/${RELEASE}-operator)`);
  story.done(
    `helm install: operator 2/2 and webhook 2/2 Ready in ${((Date.now() - installStarted) / 1000).toFixed(0)}s, leader ${lease.spec.holderIdentity}`,
  );

  step(4, `The samples (kubectl apply -f manifests/samples/) in namespace ${NS}`);
  const docs = readdirSync(SAMPLES)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(SAMPLES, f), "utf8")).map((d) => d.toJSON()))
    .filter((d): d is { kind: string; metadata: { name: string }; spec?: { tools?: Catalog } } => Boolean(d));
  // The namespace first: everything else lives in it.
  await w.apply(...docs.filter((d) => d.kind === "Namespace"));
  await w.apply(...docs.filter((d) => d.kind !== "Namespace"));
  say(`applied: ${docs.map((d) => `${d.kind.toLowerCase()}/${d.metadata.name}`).join(", ")}`);
  // What the samples leave to the user: the ticketing API token (the sample holds a placeholder),
  // the approvers' tokens, and the tool server's ServiceAccount.
  const credential = `tkt-${randomBytes(12).toString("hex")}`;
  const approverToken = randomBytes(24).toString("hex");
  await w.apply(
    secret(NS, "ticket-tools-credential", { token: credential }),
    approversSecret(NS, { [APPROVER]: approverToken }),
    serviceAccount(NS, SERVER),
  );
  say(
    `secret/ticket-tools-credential set to a fresh API token; secret/warden-approvers holds ${APPROVER}'s approver token; serviceaccount/${SERVER}`,
  );
  await waitFor("both AgentIdentities Ready", async () => {
    const list = await w.getJson<{
      items: { status?: { conditions?: { type: string; status: string }[] } }[];
    }>(["-n", NS, "get", "agentidentities"]);
    return (
      list.items.length === 2 &&
      list.items.every((i) => i.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
    );
  });
  await show(w, ["-n", NS, "get", "agentenclaves,toolmanifests,agentidentities"]);
  const netpols = await w.mustKubectl(["-n", NS, "get", "networkpolicies", "-o", "name"]);
  const nsLabels = (
    await w.getJson<{ metadata: { labels: Record<string, string> } }>(["get", "namespace", NS])
  ).metadata.labels;
  say(
    `namespace ${NS} labelled warden.dev/enclave=${nsLabels["warden.dev/enclave"]}; NetworkPolicies: ${netpols
      .trim()
      .split("\n")
      .map((s) => s.replace(/^.*\//, ""))
      .join(", ")}`,
  );
  story.done(
    `samples: enclave research-lab, 2 ToolManifests, 2 AgentIdentities Ready, ${netpols.trim().split("\n").length} NetworkPolicies`,
  );

  step(5, `The ${SERVER} server and the ${AGENT} as Deployments: the webhook injects the gateway`);
  const manifest = docs.find((d) => d.kind === "ToolManifest" && d.metadata.name === SERVER);
  // The server lists the sample's pinned definitions exactly, plus one tool the manifest does not
  // list; it answers with the fingerprint of the credential it received.
  const catalog: Catalog = [
    ...(manifest?.spec?.tools ?? []).map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: t.inputSchema,
      showsCredential: true,
    })),
    {
      name: UNLISTED,
      description: "Delete a ticket and its history.",
      inputSchema: { type: "object", properties: { id: { type: "string" } } },
    },
  ];
  const created = Date.now();
  await w.apply(
    ...toolServerWorkload({
      namespace: NS,
      manifest: SERVER,
      serviceAccountName: SERVER,
      image: images.tools,
      port: SERVER_PORT,
      // The ToolManifest's endpoint port.
      servicePort: 8443,
      env: [
        { name: "TOOLS_PORT", value: String(SERVER_PORT) },
        { name: "TOOLS_CATALOG", value: JSON.stringify(catalog) },
      ],
    }),
    agentDeployment({ namespace: NS, ...AGENT_LABELS, image: images.tools }),
  );
  const server = await w.readyPod(NS, `warden.dev/tool-server=${SERVER}`);
  const agent = await w.readyPod(NS, `warden.dev/agent=${AGENT}`);
  say(`Ready ${((Date.now() - created) / 1000).toFixed(1)}s after kubectl apply`);
  await show(w, ["-n", NS, "get", "pods", "-o", "wide"]);
  for (const pod of [agent, server]) {
    const gw = pod.spec.initContainers?.find((c) => c.name === "warden-gateway");
    if (gw?.restartPolicy !== "Always")
      throw new Error(`pod ${pod.metadata.name} has no injected warden-gateway sidecar`);
    const env = Object.fromEntries((gw.env ?? []).map((e) => [e.name, e.value]));
    say(
      `pod ${pod.metadata.name}: sidecar ${gw.name} (${gw.image}, restartPolicy Always), mode ${env.WARDEN_GATEWAY_MODE}, issuer ${env.WARDEN_ISSUER_URL}`,
    );
  }
  const agentEnv = agent.spec.containers[0]?.env ?? [];
  say(
    `container agent: env ${agentEnv.map((e) => `${e.name}=${e.value}`).join(" ")}; volume mounts: ${agent.spec.containers[0]?.volumeMounts?.length ?? 0} (no token, credential or key)`,
  );
  // The SVID as the sidecar reports it in its own log.
  const svid = await waitFor("the sidecar's 'svid rotated' log line", async () => {
    const logs = await w.mustKubectl(["-n", NS, "logs", agent.metadata.name, "-c", "warden-gateway"]);
    for (const line of logs.trim().split("\n").reverse()) {
      try {
        const o = JSON.parse(line) as { msg?: string; spiffeID?: string; notAfter?: string };
        if (o.msg === "svid rotated" && o.spiffeID && o.notAfter)
          return o as { spiffeID: string; notAfter: string };
      } catch {
        // not JSON
      }
    }
    return undefined;
  });
  const leftMin = (Date.parse(svid.notAfter) - Date.now()) / 60_000;
  say(`$ kubectl -n ${NS} logs ${agent.metadata.name} -c warden-gateway | grep 'svid rotated'`);
  say(
    `SVID ${svid.spiffeID}  notAfter ${svid.notAfter} (${leftMin.toFixed(1)} min left; renewed at half-life)`,
  );
  if (svid.spiffeID !== `spiffe://cluster.local/ns/${NS}/sa/${AGENT}`)
    throw new Error(`the sidecar holds an SVID for ${svid.spiffeID}, not for ${AGENT}`);
  story.done(`pods: ${AGENT} and ${SERVER} Ready with the injected sidecar; SVID ${svid.spiffeID}`);

  step(6, "Admission: an agent pod that Pod Security 'restricted' admits, but warden does not");
  // Non-root, no privilege escalation, capabilities dropped, RuntimeDefault seccomp: the enclave
  // namespace's Pod Security level (restricted) lets it through. What warden adds refuses it.
  const careless = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "careless-agent",
      namespace: NS,
      labels: agentLabels(AGENT_LABELS),
    },
    spec: {
      serviceAccountName: AGENT,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "agent",
          image: images.tools,
          args: ["idle"],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  };
  const refused = await w.kubectl(["create", "--dry-run=server", "-f", "-"], {
    input: JSON.stringify(careless),
  });
  if (refused.code === 0) throw new Error("the webhook admitted an agent pod that breaks warden's rules");
  const reasons = denialReasons(refused.stderr);
  if (!reasons.every((r) => r.startsWith("[")))
    throw new Error(`the pod was refused, but not by warden's rules: ${refused.stderr}`);
  say(
    "pod/careless-agent (writable root filesystem, ServiceAccount token mounted, runs as the gateway's UID 65532) refused:",
  );
  for (const r of reasons) say(`  ✘ ${r}`);
  story.done(`admission: an agent pod breaking warden's rules refused (${reasons.length} rules named)`);

  step(
    7,
    `Tool calls from inside the agent container: agent → outbound gateway → mTLS → inbound gateway → ${SERVER}`,
  );
  const tools = <T>(argv: string[], timeoutMs?: number) =>
    w.execJson<T>(NS, agent.metadata.name, "agent", [...TOOLS_ENTRYPOINT, ...argv], timeoutMs);
  const call = (tool: string, args: Record<string, unknown> = {}) =>
    tools<CallOutcome>(["call", GATEWAY_URL, tool, JSON.stringify(args)], 600_000);
  const text = (o: CallOutcome) =>
    o.ok
      ? ((o.result as { content: { text: string }[] }).content ?? []).map((c) => c.text).join(" ")
      : `${o.error?.message ?? "error"}`;
  say(
    `(each call: kubectl -n ${NS} exec deploy/${AGENT} -c agent -- ${TOOLS_ENTRYPOINT.join(" ")} call ${GATEWAY_URL} <tool> <args-json>)`,
  );
  const listed = await tools<CallOutcome>(["list", GATEWAY_URL]);
  const names = (listed.result as string[] | undefined)?.sort() ?? [];
  say(`tools/list → ${names.join(", ")}   (${UNLISTED} hidden: the server lists it, the manifest does not)`);
  if (!listed.ok || names.includes(UNLISTED))
    throw new Error(`tools/list through the gateway: ${JSON.stringify(listed)}`);
  const allowed = await call("get_ticket", { id: "TCK-1042" });
  say(`✔ get_ticket {id: "TCK-1042"} → ${allowed.ok ? "allowed" : "DENIED"}: ${text(allowed)}`);
  if (!allowed.ok) throw new Error(`the granted call get_ticket was refused: ${JSON.stringify(allowed)}`);
  const ungranted = await call(UNLISTED, { id: "TCK-1042" });
  say(`✘ ${UNLISTED} {id: "TCK-1042"} → ${ungranted.ok ? "ALLOWED" : "denied"}: ${text(ungranted)}`);
  const badArg = await call("get_ticket", { id: "TCK-1042' OR '1'='1" });
  say(`✘ get_ticket {id: "TCK-1042' OR '1'='1"} → ${badArg.ok ? "ALLOWED" : "denied"}: ${text(badArg)}`);
  if (ungranted.error?.data?.rule !== "ToolNotGranted" || badArg.error?.data?.rule !== "ArgumentConstraint")
    throw new Error(
      `expected ToolNotGranted and ArgumentConstraint: ${JSON.stringify({ ungranted, badArg })}`,
    );
  const serverCalls = () =>
    w
      .mustKubectl(["-n", NS, "logs", server.metadata.name, "-c", "server"])
      .then((l) => [...l.matchAll(/"msg":"tools\/call","tool":"([^"]+)"/g)].map((m) => m[1]));
  const reached = await serverCalls();
  say(`the tool server's log shows the calls that reached it: ${reached.join(", ")} — nothing else`);
  if (reached.some((t) => t !== "get_ticket"))
    throw new Error(`a denied call reached the server: ${reached}`);
  story.done(
    "calls: get_ticket allowed; ungranted delete_ticket (ToolNotGranted) and a bad id (ArgumentConstraint) denied at the sidecar",
  );

  step(
    8,
    `Approval: create_ticket waits for a human (${APPROVER}), answered through the sidecar's admin port`,
  );
  const held = call("create_ticket", { queue: "support", title: "Printer on fire in building 2" });
  // Awaited below; if a step in between fails, its rejection must not end the process before cleanup.
  held.catch(() => undefined);
  const pf = w.portForward(NS, agent.metadata.name, 15020);
  let approvedBy = "";
  story.onCleanup("port-forward", () => pf.stop());
  try {
    const port = await pf.local;
    const admin = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${approverToken}` };
    say(`$ kubectl -n ${NS} port-forward pod/${agent.metadata.name} :15020   → ${admin}`);
    const anonymous = await fetch(`${admin}/approvals`);
    say(`$ curl ${admin}/approvals   → ${anonymous.status} (no approver token)`);
    if (anonymous.status !== 401)
      throw new Error(`GET /approvals without a token answered ${anonymous.status}`);
    const pending = await waitFor("the held call to be listed", async () => {
      const r = (await (await fetch(`${admin}/approvals`, { headers: auth })).json()) as {
        approver: string;
        pending: { id: string; tool: string; argsHash: string; args: unknown; approvers: string[] }[];
      };
      const p = r.pending.find((x) => x.tool === "create_ticket");
      return p ? { approver: r.approver, p } : undefined;
    });
    approvedBy = pending.approver;
    say(
      `$ curl -H "Authorization: Bearer <${APPROVER}'s token>" ${admin}/approvals   → approver ${approvedBy}`,
    );
    say(
      `  pending: ${pending.p.tool} ${JSON.stringify(pending.p.args)} approvers ${pending.p.approvers.join(",")}`,
    );
    const answer = await fetch(`${admin}/approvals/${pending.p.id}`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ decision: "approve", argsHash: pending.p.argsHash }),
    });
    say(
      `$ curl -X POST … /approvals/${pending.p.id} -d '{"decision":"approve","argsHash":"${pending.p.argsHash.slice(0, 15)}…"}'   → ${answer.status}`,
    );
    if (answer.status !== 200) throw new Error(`approving answered ${answer.status}: ${await answer.text()}`);
  } finally {
    pf.stop();
  }
  const approved = await held;
  say(`✔ create_ticket → ${approved.ok ? "allowed after approval" : "DENIED"}: ${text(approved)}`);
  if (!approved.ok) throw new Error(`the approved call failed: ${JSON.stringify(approved)}`);
  story.done(
    `approval: create_ticket held, approved by ${approvedBy} through port-forward + token, then run`,
  );

  step(9, "Credential injection: the server gets the ticketing token, the agent never holds it");
  const expected = sha256(`Bearer ${credential}`);
  const got = /credential received: (sha256:[0-9a-f]{64}|none)/.exec(text(allowed))?.[1];
  say(`the server received Authorization: Bearer <token>, sha256 ${got?.slice(0, 23)}…`);
  say(
    `sha256 of "Bearer " + secret/ticket-tools-credential:   ${expected.slice(0, 23)}…  ${got === expected ? "(the same)" : "(DIFFERENT)"}`,
  );
  if (got !== expected) throw new Error(`the server received ${got}, expected ${expected}`);
  const seen = await w.whatTheAgentSees(NS, agent.metadata.name, SERVER);
  const leaked = seen.stdout.includes(credential);
  say(
    `inside the agent container: the token is ${leaked ? "VISIBLE" : "in no file and no environment variable"}`,
  );
  if (seen.code !== 0 || leaked)
    throw new Error(`the agent container sees the credential (exit ${seen.code})`);
  story.done("credential: the server received the token from the Secret; the agent container never sees it");

  step(10, "NetworkPolicy (kube-router): the agent cannot bypass the gateways");
  const tcp = (from: PodInfo, container: string, host: string, port: number) =>
    w.execJson<{ connected: boolean; error?: string; ms: number }>(NS, from.metadata.name, container, [
      ...TOOLS_ENTRYPOINT,
      "tcp",
      host,
      String(port),
      "3000",
    ]);
  const serverIP = server.status.podIP!;
  const checks = [
    {
      what: `control: ${SERVER} pod → its own port ${serverIP}:${SERVER_PORT} (no policy inside a pod)`,
      from: server,
      c: "server",
      host: serverIP,
      port: SERVER_PORT,
      open: true,
    },
    {
      what: `agent → ${SERVER}'s inbound gateway ${serverIP}:15443`,
      from: agent,
      c: "agent",
      host: serverIP,
      port: 15443,
      open: true,
    },
    {
      what: `agent → ${SERVER}'s own port ${serverIP}:${SERVER_PORT} (bypassing both gateways)`,
      from: agent,
      c: "agent",
      host: serverIP,
      port: SERVER_PORT,
      open: false,
    },
    {
      what: `agent → the API server ${api.ip}:${api.port}`,
      from: agent,
      c: "agent",
      host: api.ip,
      port: api.port,
      open: false,
    },
  ];
  for (const k of checks) {
    const r = await tcp(k.from, k.c, k.host, k.port);
    say(
      `${r.connected === k.open ? (k.open ? "✔" : "✘") : "!"} ${k.what}: ${r.connected ? "connected" : `blocked (${r.error})`} in ${r.ms} ms`,
    );
    if (r.connected !== k.open)
      throw new Error(`${k.what}: expected ${k.open ? "open" : "blocked"}, got ${JSON.stringify(r)}`);
  }
  story.done(
    "NetworkPolicy: the bypass to the tool server's own port and the API server blocked; the inbound gateway reachable",
  );

  step(11, `Suspension: kubectl patch agentidentity ${AGENT} suspended=true`);
  const suspendedAt = Date.now();
  await suspend(w, true);
  const refusedCall = await waitFor(
    "the agent's calls to be refused",
    async () => {
      const r = await call("get_ticket", { id: "TCK-1042" });
      return r.ok ? undefined : r;
    },
    180_000,
  );
  const refusedAfter = ((Date.now() - suspendedAt) / 1000).toFixed(1);
  say(`✘ get_ticket → refused ${refusedAfter}s after the patch: ${text(refusedCall)}`);
  if (!/AgentSuspended|SvidExpired|CallerNotAllowed/.test(JSON.stringify(refusedCall.error)))
    throw new Error(`the suspended agent's call failed for another reason: ${JSON.stringify(refusedCall)}`);
  story.done(`suspension: the agent's calls refused ${refusedAfter}s after the patch`);

  step(12, "warden audit verify on the audit log in the sidecar's volume");
  // The sidecar signs a checkpoint at most a minute after its last record: wait for the one that
  // covers the suspended call, so that the whole log is signed.
  const auditCopy = await waitFor(
    "a signed checkpoint at the end of the audit log",
    async () => {
      const r = await w.readAuditLog(NS, agent.metadata.name);
      if (r.code !== 0) throw new Error(`reading the audit log failed: ${r.stderr}`);
      return r.stdout.trim().split("\n").pop()?.includes('"sig":') ? r : undefined;
    },
    150_000,
  );
  const auditFile = join(dir, "audit.jsonl");
  const bundleFile = join(dir, "bundle.pem");
  writeFileSync(auditFile, auditCopy.stdout);
  writeFileSync(bundleFile, await w.trustBundle(NS));
  const records = auditCopy.stdout
    .trim()
    .split("\n")
    .map(
      (l) =>
        JSON.parse(l) as {
          type: string;
          decision?: string;
          method?: string;
          tool?: string | null;
          rule?: string;
          approver?: string;
        },
    );
  // Every call, and every refusal (a suspended agent's is refused at initialize, before any tool).
  for (const r of records.filter((x) => x.type === "decision" && (x.tool || x.decision !== "allow")))
    say(
      `  ${r.decision?.padEnd(5)} ${r.tool ?? r.method}${r.decision === "allow" ? "" : ` (${r.rule})`}${r.approver ? ` (approved by ${r.approver})` : ""}`,
    );
  const verify = await run(
    NODE,
    [
      join(PROJECT_ROOT, "cli", "warden.ts"),
      "audit",
      "verify",
      auditFile,
      "--bundle",
      bundleFile,
      "--allow-open",
    ],
    { timeoutMs: 120_000 },
  );
  say(`$ warden audit verify audit.jsonl --bundle bundle.pem --allow-open   (exit ${verify.code})`);
  say((verify.stdout + verify.stderr).trim());
  if (verify.code !== 0) throw new Error("warden audit verify did not find the audit log intact");
  story.done(
    `audit: ${records.filter((r) => r.type === "decision").length} decisions from the pod verified by warden audit verify`,
  );

  story.printSummary();
  if (ci) await story.shutdown(0);

  // Interactive: give the agent back its identity and leave everything running.
  await suspend(w, false);
  const kubectlLine = `${node.kubectl.join(" ")} --kubeconfig=${node.kubeconfig}`;
  console.log("\nEverything keeps running on the node; press Ctrl-C to stop it and remove everything.");
  console.log(`  alias kubectl='${kubectlLine}'   (the node's kubectl, at the API server's version)`);
  console.log(`  export KUBECONFIG=${node.kubeconfig}   (or any kubectl ≥ 1.35)`);
  console.log(`  kubectl get pods -A; kubectl -n ${NS} get aid,tm,networkpolicies`);
  console.log(`  kubectl -n ${NS} logs deploy/${AGENT} -c warden-gateway`);
  console.log(
    `  kubectl -n ${NS} exec deploy/${AGENT} -c agent -- ${TOOLS_ENTRYPOINT.join(" ")} call ${GATEWAY_URL} get_ticket '{"id":"TCK-7"}'`,
  );
  await story.waitForSignal();
} catch (err) {
  await story.fail(err);
}
