import { describe, expect, it } from "vitest";
import type { CA } from "./ca.ts";
import { createRootCA } from "./ca.ts";
import { generateP256 } from "./crypto.ts";
import { parseCSR } from "./csr.ts";
import { backoffMs, type Clock, renewDelayMs, SvidClient, type X509Answer } from "./svid-client.ts";
import { signX509SVID, signX509SVIDFromCSR } from "./x509-svid.ts";

const ID = "spiffe://example.org/ns/agents/sa/bot";

/** A manual clock: timers fire only when the test advances time. */
class ManualClock implements Clock {
  t = Date.now();
  timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  nextAt(): number | undefined {
    return this.timers.reduce<number | undefined>(
      (m, x) => (m === undefined || x.at < m ? x.at : m),
      undefined,
    );
  }
  /** Jumps to the next timer and runs it. */
  fireNext(): number {
    const at = this.nextAt();
    if (at === undefined) throw new Error("no timer scheduled");
    this.t = at;
    const due = this.timers.filter((x) => x.at <= at);
    this.timers = this.timers.filter((x) => x.at > at);
    for (const d of due) d.fn();
    return at;
  }
}

function issuer(ca: CA, clock: ManualClock, ttlMs: number) {
  const calls = { count: 0, fail: 0 };
  const requestSVID = async (csrPem: string, token: string): Promise<X509Answer> => {
    calls.count++;
    if (token !== "token-ok") throw new Error("bad token");
    if (calls.fail > 0) {
      calls.fail--;
      throw new Error("issuer down");
    }
    const svid = await signX509SVIDFromCSR({ ca, csrPem, spiffeID: ID, ttlMs, now: new Date(clock.now()) });
    return {
      spiffeID: ID,
      certChainPem: svid.chainPem,
      bundlePem: ca.certPem,
      serial: svid.serial,
      notAfter: svid.notAfter.toISOString(),
    };
  };
  return { calls, requestSVID };
}

describe("renewal schedule", () => {
  it("renews at 50% ±10% of the lifetime", () => {
    expect(renewDelayMs(1000, () => 0)).toBe(400);
    expect(renewDelayMs(1000, () => 0.5)).toBe(500);
    expect(renewDelayMs(1000, () => 1)).toBeCloseTo(600);
  });
  it("renews at the configured fraction ±10%, never past 95% of the lifetime", () => {
    expect(renewDelayMs(1000, () => 0, 0.8)).toBeCloseTo(700);
    expect(renewDelayMs(1000, () => 0.5, 0.8)).toBeCloseTo(800);
    expect(renewDelayMs(1000, () => 1, 0.8)).toBeCloseTo(900);
    expect(renewDelayMs(1000, () => 1, 0.9)).toBeCloseTo(950);
    expect(renewDelayMs(1000, () => 0, 0.1)).toBeCloseTo(50);
  });
  it("backs off exponentially with jitter, capped", () => {
    const b = { initialMs: 1000, maxMs: 30_000 };
    expect(backoffMs(0, b, () => 1)).toBe(1000);
    expect(backoffMs(3, b, () => 1)).toBe(8000);
    expect(backoffMs(20, b, () => 1)).toBe(30_000);
    expect(backoffMs(20, b, () => 0)).toBe(15_000);
  });
});

describe("SvidClient", () => {
  it("obtains an SVID, then renews again and again before expiry with a new key each time", async () => {
    const ca = await createRootCA({ trustDomain: "example.org", ttlMs: 24 * 3600_000 });
    const clock = new ManualClock();
    const iss = issuer(ca, clock, 60_000);
    let tokenReads = 0;
    const client = new SvidClient({
      trustBundle: async () => ca.certPem,
      expectedID: ID,
      trustDomain: "example.org",
      readToken: async () => {
        tokenReads++;
        return "token-ok\n";
      },
      requestSVID: iss.requestSVID,
      clock,
    });
    const updates: string[] = [];
    client.onUpdate((s) => updates.push(s.serial));
    expect(client.ready()).toBe(false);
    await client.start();
    expect(client.ready()).toBe(true);
    // Certificate times have one-second precision.
    expect(client.secondsLeft()).toBeGreaterThanOrEqual(59);
    expect(client.secondsLeft()).toBeLessThanOrEqual(60);
    const serials = new Set<string>();
    const keys = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const cur = client.current()!;
      expect(cur.spiffeID).toBe(ID);
      serials.add(cur.serial);
      keys.add(cur.keyPem);
      const issuedAt = clock.now();
      const firedAt = clock.fireNext();
      // Half-life ±10% of the lifetime (60 s, less the sub-second part X.509 times drop).
      const lifetime = cur.notAfter.getTime() - issuedAt;
      expect(lifetime).toBeGreaterThan(59_000);
      expect(firedAt - issuedAt).toBeGreaterThanOrEqual(lifetime * 0.4 - 1);
      expect(firedAt - issuedAt).toBeLessThanOrEqual(lifetime * 0.6 + 1);
      expect(clock.now()).toBeLessThan(cur.notAfter.getTime());
      await client.idle();
      expect(client.ready()).toBe(true);
    }
    serials.add(client.current()!.serial);
    keys.add(client.current()!.keyPem);
    expect(serials.size).toBe(6);
    expect(keys.size).toBe(6);
    expect(updates).toHaveLength(6);
    expect(tokenReads).toBe(6);
    await client.stop();
  });

  it("retries with backoff after failures, is not ready once the SVID expires, and recovers", async () => {
    const ca = await createRootCA({ trustDomain: "example.org", ttlMs: 24 * 3600_000 });
    const clock = new ManualClock();
    const iss = issuer(ca, clock, 20_000);
    const client = new SvidClient({
      trustBundle: async () => ca.certPem,
      expectedID: ID,
      trustDomain: "example.org",
      readToken: async () => "token-ok",
      requestSVID: iss.requestSVID,
      clock,
      random: () => 0.5,
      backoff: { initialMs: 1000, maxMs: 4000 },
    });
    await client.start();
    const notAfter = client.current()!.notAfter.getTime();
    iss.calls.fail = 1000;
    const gaps: number[] = [];
    let last = clock.fireNext(); // the renewal at half-life, which fails
    await client.idle();
    while (clock.now() < notAfter + 10_000) {
      const at = clock.fireNext();
      gaps.push(at - last);
      last = at;
      await client.idle();
    }
    expect(gaps.slice(0, 4)).toEqual([750, 1500, 3000, 3000]);
    expect(client.ready()).toBe(false);
    expect(client.current()).toBeUndefined();
    expect(client.secondsLeft()).toBe(0);
    expect(client.lastError()?.message).toContain("issuer down");
    iss.calls.fail = 0;
    clock.fireNext();
    await client.idle();
    expect(client.ready()).toBe(true);
    await client.stop();
  });

  it("renews at the renewAt fraction of the lifetime it is given", async () => {
    const ca = await createRootCA({ trustDomain: "example.org", ttlMs: 24 * 3600_000 });
    for (const [renewAt, random] of [
      [0.2, 0],
      [0.8, 0.5],
      [0.8, 1],
    ] as const) {
      const clock = new ManualClock();
      const iss = issuer(ca, clock, 100_000);
      const client = new SvidClient({
        trustBundle: async () => ca.certPem,
        expectedID: ID,
        trustDomain: "example.org",
        readToken: async () => "token-ok",
        requestSVID: iss.requestSVID,
        clock,
        random: () => random,
        renewAt,
      });
      await client.start();
      const cur = client.current()!;
      const issuedAt = clock.now();
      const lifetime = cur.notAfter.getTime() - issuedAt;
      const firedAt = clock.fireNext();
      const want = lifetime * (renewAt + (random * 2 - 1) * 0.1);
      expect(Math.abs(firedAt - issuedAt - want), `renewAt ${renewAt}`).toBeLessThanOrEqual(1);
      await client.idle();
      expect(iss.calls.count).toBe(2);
      await client.stop();
    }
  });

  it("refuses a renewAt outside 0.1-0.9", () => {
    for (const renewAt of [0, 0.05, 0.95, 1, Number.NaN]) {
      expect(
        () =>
          new SvidClient({
            trustBundle: async () => "",
            trustDomain: "example.org",
            readToken: async () => "t",
            requestSVID: async () => {
              throw new Error("unused");
            },
            renewAt,
          }),
      ).toThrow(/renewAt must be a fraction of the SVID lifetime from 0.1 to 0.9/);
    }
  });

  it("refuses an answer for another SPIFFE ID, another key, or a chain outside the bundle it already holds", async () => {
    const ca = await createRootCA({ trustDomain: "example.org", ttlMs: 3600_000 });
    const other = await createRootCA({ trustDomain: "example.org", ttlMs: 3600_000 });
    const clock = new ManualClock();
    const cases: [string, (csr: string) => Promise<X509Answer>][] = [
      [
        "SVIDWrongID",
        async (csr) => {
          // A certificate for the client's own key, but naming another workload.
          const key = await parseCSR(csr).publicKey.export();
          const s = await signX509SVID({ ca, publicKey: key, spiffeID: `${ID}-other`, ttlMs: 60_000 });
          return {
            spiffeID: ID,
            certChainPem: s.chainPem,
            bundlePem: ca.certPem,
            serial: s.serial,
            notAfter: s.notAfter.toISOString(),
          };
        },
      ],
      [
        "SVIDKeyMismatch",
        async () => {
          const keys = await generateP256();
          const s = await signX509SVID({ ca, publicKey: keys.publicKey, spiffeID: ID, ttlMs: 60_000 });
          return {
            spiffeID: ID,
            certChainPem: s.chainPem,
            bundlePem: ca.certPem,
            serial: s.serial,
            notAfter: s.notAfter.toISOString(),
          };
        },
      ],
      [
        "SVIDUntrusted",
        async (csr) => {
          const s = await signX509SVIDFromCSR({ ca: other, csrPem: csr, spiffeID: ID, ttlMs: 60_000 });
          return {
            spiffeID: ID,
            certChainPem: s.certPem,
            bundlePem: ca.certPem,
            serial: s.serial,
            notAfter: s.notAfter.toISOString(),
          };
        },
      ],
      [
        // The answer carries its own bundle naming the CA that signed it: the client must not care.
        "SVIDUntrusted",
        async (csr) => {
          const s = await signX509SVIDFromCSR({ ca: other, csrPem: csr, spiffeID: ID, ttlMs: 60_000 });
          return {
            spiffeID: ID,
            certChainPem: s.chainPem,
            bundlePem: other.certPem,
            serial: s.serial,
            notAfter: s.notAfter.toISOString(),
          };
        },
      ],
    ];
    for (const [reason, requestSVID] of cases) {
      const client = new SvidClient({
        trustBundle: async () => ca.certPem,
        expectedID: ID,
        trustDomain: "example.org",
        readToken: async () => "t",
        requestSVID,
        clock,
      });
      await client.start();
      expect(client.ready()).toBe(false);
      expect((client.lastError() as { reason?: string }).reason).toBe(reason);
      await client.stop();
    }
  });
});
