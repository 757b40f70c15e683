// 500 AgentIdentities converge to Ready: convergence time and the number of API writes the
// operator made (from its own metrics), printed for the record. Bounded: 4 minutes.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeConfig } from "../support/kube.ts";
import {
  readyIdentities,
  scaleEnclave,
  scaleIdentity,
  scaleToolManifest,
} from "../support/scale-workload.ts";
import { operatorTestbed, type RunningOperator, sumMetric, waitFor } from "./operator-harness.ts";

const GROUP = "warden.dev";
const VERSION = "v1alpha1";
const N = 500;
const custom = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
let op: RunningOperator;
let ns: string;
const cleanups: (() => Promise<void>)[] = [];

const create = (plural: string, body: unknown) =>
  custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural, body });

beforeAll(async () => {
  const bed = await operatorTestbed("warden-scale", cleanups);
  ns = bed.namespace;
  op = bed.start("scale-op", ["--identity=off"]);
  await waitFor("operator leads", async () => (await op.metric("warden_operator_leader")) === 1, 60_000);
  await create("toolmanifests", scaleToolManifest(ns));
  await create("agentenclaves", scaleEnclave());
});

afterAll(async () => {
  await op?.stop();
  for (const c of cleanups.reverse()) await c();
});

const WRITE_VERBS = ["POST", "PUT", "PATCH", "DELETE"];

describe("scale", () => {
  it(`${N} AgentIdentities converge to Ready`, { timeout: 240_000 }, async () => {
    const before = await op.metrics();
    const writesBefore = WRITE_VERBS.reduce(
      (s, verb) => s + sumMetric(before, "warden_operator_api_requests_total", { verb }),
      0,
    );
    const started = Date.now();
    const names = Array.from({ length: N }, (_, i) => `agent-${String(i).padStart(4, "0")}`);
    // Create with bounded concurrency, as a CI pipeline applying manifests would.
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((name) => create("agentidentities", scaleIdentity(name))));
    }
    const createdMs = Date.now() - started;
    await waitFor(`${N} Ready`, async () => (await readyIdentities(custom, ns)) === N, 220_000, 1_000);
    const convergedMs = Date.now() - started;
    // The count-only follow-ups (enclave agents, manifest boundAgents) settle right after.
    await waitFor("enclave counts all agents", async () => {
      const e = (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: "agentenclaves",
        name: "proj",
      })) as {
        status?: { agents?: number };
      };
      return e.status?.agents === N;
    });
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await op.metrics();
    const byVerb = Object.fromEntries(
      WRITE_VERBS.map((verb) => [
        verb,
        sumMetric(after, "warden_operator_api_requests_total", { verb }) -
          sumMetric(before, "warden_operator_api_requests_total", { verb }),
      ]),
    );
    const writes =
      WRITE_VERBS.reduce(
        (s, verb) => s + sumMetric(after, "warden_operator_api_requests_total", { verb }),
        0,
      ) - writesBefore;
    const reads =
      sumMetric(after, "warden_operator_api_requests_total", { verb: "GET" }) -
      sumMetric(before, "warden_operator_api_requests_total", { verb: "GET" });
    const skipped =
      sumMetric(after, "warden_operator_writes_skipped_total") -
      sumMetric(before, "warden_operator_writes_skipped_total");
    const errors = sumMetric(after, "warden_operator_reconcile_errors_total");
    console.error(
      `[scale] ${N} AgentIdentities: created in ${(createdMs / 1000).toFixed(1)} s, all Ready after ${(convergedMs / 1000).toFixed(1)} s; ` +
        `operator API writes ${writes} (${(writes / N).toFixed(2)}/agent: ${JSON.stringify(byVerb)}), reads ${reads}, ` +
        `writes skipped as unchanged ${skipped}, reconcile errors ${errors}`,
    );
    for (const l of op.logs.filter((x) => x.includes("reconcile failed"))) {
      const r = JSON.parse(l) as { kind: string; key: string; err?: { message?: string } };
      console.error(`[scale] retried: ${r.kind} ${r.key}: ${r.err?.message?.slice(0, 200)}`);
    }
    // Per agent: ServiceAccount + policy ConfigMap + status + one Event; plus a bounded number of
    // coalesced enclave/manifest status and inbound-policy writes.
    expect(writes).toBeLessThanOrEqual(N * 4 + 200);
  });
});
