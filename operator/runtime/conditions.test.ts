import { describe, expect, it } from "vitest";
import { mergeConditions, readyFrom } from "./conditions.ts";

describe("mergeConditions", () => {
  it("keeps lastTransitionTime while the status holds and moves it when it changes", () => {
    const t1 = new Date("2026-01-01T00:00:00.123Z");
    const t2 = new Date("2026-01-01T01:00:00Z");
    const first = mergeConditions(
      undefined,
      [{ type: "A", status: "True", reason: "Ok", message: "" }],
      1,
      t1,
    );
    expect(first[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    const same = mergeConditions(first, [{ type: "A", status: "True", reason: "Ok", message: "x" }], 2, t2);
    expect(same[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    expect(same[0]?.observedGeneration).toBe(2);
    const flipped = mergeConditions(
      first,
      [{ type: "A", status: "False", reason: "Bad", message: "" }],
      2,
      t2,
    );
    expect(flipped[0]?.lastTransitionTime).toBe("2026-01-01T01:00:00Z");
  });
});

describe("readyFrom", () => {
  it("summarises: the first failing condition's reason, else Ready", () => {
    expect(readyFrom([{ type: "A", status: "True", reason: "Ok", message: "" }], "all good").reason).toBe(
      "Ready",
    );
    const r = readyFrom(
      [
        { type: "A", status: "True", reason: "Ok", message: "" },
        { type: "B", status: "False", reason: "SponsorRequired", message: "set spec.sponsor" },
      ],
      "",
    );
    expect(r).toEqual({
      type: "Ready",
      status: "False",
      reason: "SponsorRequired",
      message: "set spec.sponsor",
    });
  });
});
