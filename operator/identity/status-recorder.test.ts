// Coalescing of status.lastIssued writes: at most one per identity per interval, the newest
// issuance wins, nothing when nothing changed. The API client is a recorder; the real write is
// exercised against an API server in test/integration/issuer.test.ts.
import type * as k8s from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../lib/log.ts";
import { identityMetrics } from "./metrics.ts";
import { ISSUER_FIELD_MANAGER, IssuanceStatusRecorder } from "./status-recorder.ts";

type Patch = {
  name: string;
  fieldManager?: string;
  force?: boolean;
  body: { status: { lastIssued: { serial: string } } };
};

function recorder() {
  const patches: Patch[] = [];
  const custom = {
    patchNamespacedCustomObjectStatus: async (p: Patch) => {
      patches.push(p);
      return {};
    },
  } as unknown as k8s.CustomObjectsApi;
  const r = new IssuanceStatusRecorder({
    custom,
    log: createLogger("test", { level: "error" }),
    metrics: identityMetrics(new Registry()),
    minIntervalMs: 60_000,
  });
  return { r, patches };
}
const issuance = (serial: string) => ({
  serial,
  notAfter: new Date(Date.now() + 900_000),
  issuedAt: new Date(),
});

describe("IssuanceStatusRecorder", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  it("writes the first issuance at once, then at most once per interval with the newest", async () => {
    const { r, patches } = recorder();
    r.record("ns", "bot", issuance("01"));
    await vi.advanceTimersByTimeAsync(1);
    expect(patches.map((p) => p.body.status.lastIssued.serial)).toEqual(["01"]);
    expect(patches[0]).toMatchObject({ fieldManager: ISSUER_FIELD_MANAGER, force: true });
    for (const s of ["02", "03", "04"]) {
      r.record("ns", "bot", issuance(s));
      await vi.advanceTimersByTimeAsync(10_000);
    }
    expect(patches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(patches.map((p) => p.body.status.lastIssued.serial)).toEqual(["01", "04"]);
    // Nothing new: no write.
    await vi.advanceTimersByTimeAsync(300_000);
    expect(patches).toHaveLength(2);
    r.stop();
  });
  it("keeps identities independent", async () => {
    const { r, patches } = recorder();
    r.record("ns", "a", issuance("0a"));
    r.record("ns", "b", issuance("0b"));
    await vi.advanceTimersByTimeAsync(1);
    expect(patches.map((p) => p.name).sort()).toEqual(["a", "b"]);
    r.stop();
  });
});
