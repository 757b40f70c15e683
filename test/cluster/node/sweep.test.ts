// The sweep kills "every process in the node's namespaces": it must never be pointed at the
// machine's own namespaces, whatever a damaged status file says.
import { readlinkSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { isForeignNamespace, processesInNamespace } from "./sweep.ts";

describe("namespace sweep guard", () => {
  const own = readlinkSync("/proc/self/ns/mnt");
  test.each([
    ["the caller's own mount namespace", "mnt" as const, own],
    ["the caller's own network namespace", "net" as const, readlinkSync("/proc/self/ns/net")],
    ["an empty link", "mnt" as const, ""],
    ["a link of another kind", "mnt" as const, "net:[4026531840]"],
    ["garbage", "mnt" as const, "mnt:[1] ; rm -rf /"],
  ])("refuses %s", (_name, kind, link) => {
    expect(isForeignNamespace(kind, link)).toBe(false);
    expect(processesInNamespace(kind, link)).toEqual([]);
  });

  test("accepts a namespace that is neither PID 1's nor the caller's", () => {
    expect(isForeignNamespace("mnt", "mnt:[4000000001]")).toBe(true);
    // Nobody lives there: an unused inode number finds no process.
    expect(processesInNamespace("mnt", "mnt:[4000000001]")).toEqual([]);
  });

  test("a namespace on the refuse list (the host's, recorded at start) is refused, allowOwn or not", () => {
    expect(isForeignNamespace("mnt", "mnt:[4000000001]", ["mnt:[4000000001]"])).toBe(false);
    expect(processesInNamespace("mnt", own, { allowOwn: true, refuse: [own] })).toEqual([]);
  });

  test("allowOwn lets the supervisor sweep its own (private) namespace", () => {
    expect(processesInNamespace("mnt", own, { allowOwn: true })).toContain(process.pid);
  });
});
