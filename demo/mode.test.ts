import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chooseDemoMode, parseDemoArgs } from "./mode.ts";

const yes = () => ({ ok: true }) as const;
const no = (why: string) => () => ({ ok: false, why }) as const;

describe("parseDemoArgs", () => {
  it.each([
    { name: "no flags: interactive, node if possible", argv: [], args: { ci: false, hostProcesses: false } },
    { name: "--ci", argv: ["--ci"], args: { ci: true, hostProcesses: false } },
    { name: "--host-processes", argv: ["--host-processes"], args: { ci: false, hostProcesses: true } },
    { name: "both, any order", argv: ["--host-processes", "--ci"], args: { ci: true, hostProcesses: true } },
  ])("$name", ({ argv, args }) => {
    expect(parseDemoArgs(argv)).toEqual(args);
  });

  // Attacks: a typo or a look-alike must not silently choose another story.
  it.each([
    { name: "typo", argv: ["--host-process"] },
    { name: "single dash", argv: ["-ci"] },
    { name: "value attached", argv: ["--ci=false"] },
    { name: "upper case", argv: ["--CI"] },
    { name: "stray positional", argv: ["node"] },
    { name: "empty string", argv: [""] },
  ])("refuses $name by name", ({ argv }) => {
    expect(() => parseDemoArgs(argv)).toThrow(`unknown argument ${JSON.stringify(argv[0])}`);
  });

  it("refuses every string that is not one of the two flags", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => s !== "--ci" && s !== "--host-processes"),
        (s) => {
          expect(() => parseDemoArgs(["--ci", s])).toThrow(/unknown argument/);
        },
      ),
    );
  });
});

describe("chooseDemoMode", () => {
  it("runs on a node where the machine can run one", () => {
    expect(chooseDemoMode({ ci: true, hostProcesses: false }, yes)).toEqual({ mode: "node" });
  });

  it("falls back to host processes, saying why the node cannot run", () => {
    expect(chooseDemoMode({ ci: false, hostProcesses: false }, no("a node needs root"))).toEqual({
      mode: "host-processes",
      why: "no real node on this machine: a node needs root",
    });
  });

  it("--host-processes forces the fallback without probing the machine", () => {
    let probed = false;
    const mode = chooseDemoMode({ ci: true, hostProcesses: true }, () => {
      probed = true;
      return { ok: true };
    });
    expect(mode).toEqual({ mode: "host-processes", why: "--host-processes was given" });
    expect(probed).toBe(false);
  });
});
