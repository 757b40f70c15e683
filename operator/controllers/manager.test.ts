import { describe, expect, it } from "vitest";
import { readyEventWanted } from "./identity.ts";
import { enclavesToRecount, GenerationTracker } from "./manager.ts";

describe("GenerationTracker", () => {
  it("keeps one key space per kind: an enclave and a ToolManifest named alike do not shadow each other", () => {
    const g = new GenerationTracker();
    expect(g.changed("AgentEnclave", "ns/x", "add", 1)).toBe(true);
    // Before the fix this was false: the enclave's generation 1 was recorded under the same key.
    expect(g.changed("ToolManifest", "ns/x", "add", 1)).toBe(true);
    expect(g.changed("AgentEnclave", "ns/x", "update", 1)).toBe(false);
    expect(g.changed("ToolManifest", "ns/x", "update", 2)).toBe(true);
    expect(g.changed("AgentEnclave", "ns/x", "update", 1)).toBe(false);
  });
  it("never counts a resync as a change; a delete always is one and forgets the key", () => {
    const g = new GenerationTracker();
    expect(g.changed("AgentEnclave", "ns/x", "resync", 1)).toBe(false);
    expect(g.changed("AgentEnclave", "ns/x", "add", 1)).toBe(true);
    expect(g.changed("AgentEnclave", "ns/x", "resync", 5)).toBe(false);
    expect(g.changed("AgentEnclave", "ns/x", "delete", 1)).toBe(true);
    expect(g.changed("AgentEnclave", "ns/x", "add", 1)).toBe(true);
  });
});

describe("enclavesToRecount: an identity event re-reconciles its enclave only when the count can change", () => {
  const rows: {
    name: string;
    event: "add" | "update" | "delete";
    before?: string;
    now?: string;
    seen: boolean;
    want: string[];
  }[] = [
    { name: "a new identity joins its enclave", event: "add", now: "e", seen: false, want: ["e"] },
    {
      name: "a spec edit that keeps the enclave (grants, TTL)",
      event: "update",
      before: "e",
      now: "e",
      seen: true,
      want: [],
    },
    {
      name: "an identity moves to another enclave",
      event: "update",
      before: "e",
      now: "f",
      seen: true,
      want: ["e", "f"],
    },
    { name: "an identity is deleted", event: "delete", before: "e", now: "e", seen: true, want: ["e"] },
    { name: "first sight after an operator restart", event: "update", now: "e", seen: false, want: ["e"] },
    { name: "an identity without an enclave", event: "add", seen: false, want: [] },
  ];
  for (const r of rows) {
    it(r.name, () => {
      expect(enclavesToRecount(r.event, r.before, r.now, r.seen)).toEqual(r.want);
    });
  }
});

describe("readyEventWanted: Events for Ready transitions, none for a new identity that comes up Ready", () => {
  const T = (reason: string) => ({ status: "True", reason });
  const F = (reason: string) => ({ status: "False", reason });
  const rows = [
    {
      name: "new identity, Ready at once: no Event (its status says so)",
      prev: undefined,
      next: T("Ready"),
      want: false,
    },
    {
      name: "new identity refused: a Warning a person should see",
      prev: undefined,
      next: F("EnclaveNotFound"),
      want: true,
    },
    { name: "refused → Ready", prev: F("EnclaveNotFound"), next: T("Ready"), want: true },
    { name: "Ready → suspended", prev: T("Ready"), next: F("Suspended"), want: true },
    { name: "unchanged", prev: T("Ready"), next: T("Ready"), want: false },
    {
      name: "same status, new reason",
      prev: F("EnclaveNotFound"),
      next: F("ServiceAccountConflict"),
      want: true,
    },
  ];
  for (const r of rows) it(r.name, () => expect(readyEventWanted(r.prev, r.next)).toBe(r.want));
});
