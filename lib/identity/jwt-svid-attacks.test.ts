// Adversarial table for JWT-SVIDs (SPIFFE JWT-SVID spec, RFC 8725): each token is signed for real
// with the bundle's jwt-svid key, so only the check under test can refuse it. Every row must be
// refused with the reason code and a message naming the claim or header member at fault.
import * as fc from "fast-check";
import type * as jose from "jose";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../errors.ts";
import { b64u, signJsonText, signSegments } from "./jwt-attacks.ts";
import { createJWTKey } from "./jwt-key.ts";
import { type VerifyJWTOptions, verifyJWTSVID } from "./jwt-svid.ts";

const TD = "example.org";
const ID = `spiffe://${TD}/ns/agents/sa/bot`;
const OTHER = `spiffe://${TD}/ns/agents/sa/other`;
const AUD = "https://tools.example.org";
const key = await createJWTKey();
const attacker = await createJWTKey();
const kid = key.kid;
const now = Math.floor(Date.now() / 1000);
const opts: VerifyJWTOptions = {
  audience: AUD,
  keys: [key.publicJwk],
  trustDomain: TD,
  maxLifetimeMs: 15 * 60_000,
};
const HEADER = { alg: "ES256", typ: "JWT", kid };
const claims = (extra: Record<string, unknown> = {}) => ({
  sub: ID,
  aud: AUD,
  iat: now,
  exp: now + 300,
  ...extra,
});
const without = (k: string) => {
  const c: Record<string, unknown> = claims();
  delete c[k];
  return c;
};
const sign = (payload: unknown = claims(), header: unknown = HEADER) =>
  signJsonText(key.privateKey, JSON.stringify(header), JSON.stringify(payload));

async function outcome(
  t: string | Promise<string>,
  o: VerifyJWTOptions = opts,
): Promise<{ reason: string; message: string }> {
  const err = await verifyJWTSVID(await t, o).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) return { reason: "accepted", message: "" };
  expect(err).toBeInstanceOf(DeniedError);
  return { reason: (err as DeniedError).reason, message: (err as Error).message };
}

const keyWithout = (extra: Partial<jose.JWK>): jose.JWK => {
  const { use: _use, ...rest } = key.publicJwk;
  return { ...rest, ...extra };
};

const ROWS: {
  name: string;
  make: () => Promise<string>;
  reason: string;
  message: RegExp;
  opts?: Partial<VerifyJWTOptions>;
}[] = [
  {
    name: "issuer required, token from another issuer",
    make: () => sign(claims({ iss: "https://evil.example" })),
    opts: { issuer: "https://issuer.example.org" },
    reason: "JWTWrongIssuer",
    message: /iss claim is not the expected issuer/,
  },
  {
    name: "issuer required, token without iss",
    make: () => sign(),
    opts: { issuer: "https://issuer.example.org" },
    reason: "JWTMissingClaim",
    message: /no iss claim/,
  },
  {
    name: "expected subject, token for another workload",
    make: () => sign(claims({ sub: OTHER })),
    opts: { subject: ID },
    reason: "JWTWrongSubject",
    message: /sub claim spiffe:\/\/example\.org\/ns\/agents\/sa\/other is not/,
  },
  {
    name: "bundle key with key_ops [encrypt] and no use",
    make: () => sign(),
    opts: { keys: [keyWithout({ key_ops: ["encrypt"] })] },
    reason: "JWTUnknownKey",
    message: /kid is not a jwt-svid key/,
  },
  {
    name: "bundle key with use enc",
    make: () => sign(),
    opts: { keys: [keyWithout({ use: "enc" })] },
    reason: "JWTUnknownKey",
    message: /kid is not a jwt-svid key/,
  },
  {
    name: "missing iat",
    make: () => sign(without("iat")),
    reason: "JWTMissingClaim",
    message: /has no iat claim/,
  },
  {
    name: "missing exp",
    make: () => sign(without("exp")),
    reason: "JWTMissingClaim",
    message: /has no exp claim/,
  },
  {
    name: "missing sub",
    make: () => sign(without("sub")),
    reason: "JWTMissingClaim",
    message: /has no sub claim/,
  },
  {
    name: "missing aud",
    make: () => sign(without("aud")),
    reason: "JWTMissingClaim",
    message: /has no aud claim/,
  },
  {
    name: "missing typ",
    make: () => sign(claims(), { alg: "ES256", kid }),
    reason: "JWTBadType",
    message: /typ must be "JWT" or "JOSE" \(it is missing\)/,
  },
  {
    name: "typ of a task token",
    make: () => sign(claims(), { ...HEADER, typ: "warden-task+jwt" }),
    reason: "JWTBadType",
    message: /typ must be/,
  },
  {
    name: "missing kid",
    make: () => sign(claims(), { alg: "ES256", typ: "JWT" }),
    reason: "JWTUnknownKey",
    message: /no kid/,
  },
  {
    name: "jku header",
    make: () => sign(claims(), { ...HEADER, jku: "https://evil.example/keys" }),
    reason: "JWTHeaderNotAllowed",
    message: /"jku"/,
  },
  {
    name: "x5u header",
    make: () => sign(claims(), { ...HEADER, x5u: "https://evil.example/c.pem" }),
    reason: "JWTHeaderNotAllowed",
    message: /"x5u"/,
  },
  {
    name: "jwk header with the attacker's key, signed by it",
    make: () =>
      signJsonText(
        attacker.privateKey,
        JSON.stringify({ ...HEADER, jwk: attacker.publicJwk }),
        JSON.stringify(claims()),
      ),
    reason: "JWTHeaderNotAllowed",
    message: /"jwk"/,
  },
  {
    name: "crit header",
    make: () => sign(claims(), { ...HEADER, crit: ["exp"] }),
    reason: "JWTHeaderNotAllowed",
    message: /"crit"/,
  },
  {
    name: "duplicate header member",
    make: () =>
      signJsonText(
        key.privateKey,
        `{"alg":"ES256","typ":"JWT","kid":"x","kid":"${kid}"}`,
        JSON.stringify(claims()),
      ),
    reason: "JWTDuplicateClaim",
    message: /header repeats a member/,
  },
  {
    name: "padded payload segment",
    make: () => {
      let text = JSON.stringify(claims());
      while (b64u(text).length % 4 === 0) text += " ";
      const seg = b64u(text);
      return signSegments(
        key.privateKey,
        b64u(JSON.stringify(HEADER)),
        seg + "=".repeat((4 - (seg.length % 4)) % 4),
      );
    },
    reason: "JWTMalformed",
    message: /payload is not base64url without padding/,
  },
  {
    name: "whitespace inside the header segment",
    make: () => {
      const h = b64u(JSON.stringify(HEADER));
      return signSegments(key.privateKey, `${h.slice(0, 5)}\t${h.slice(5)}`, b64u(JSON.stringify(claims())));
    },
    reason: "JWTMalformed",
    message: /header is not base64url/,
  },
  {
    name: "BOM before the header",
    make: () => signJsonText(key.privateKey, `\uFEFF${JSON.stringify(HEADER)}`, JSON.stringify(claims())),
    reason: "JWTMalformed",
    message: /byte-order mark/,
  },
  {
    name: "null payload",
    make: () => sign(null),
    reason: "JWTMalformed",
    message: /payload must be a JSON object, got null/,
  },
  {
    name: "numeric payload",
    make: () => sign(42),
    reason: "JWTMalformed",
    message: /payload must be a JSON object, got number/,
  },
];

describe("JWT-SVID: attack table", () => {
  it("control: a well-formed JWT-SVID verifies, also with issuer and subject required", async () => {
    expect((await outcome(sign())).reason).toBe("accepted");
    const withIss = sign(claims({ iss: "https://issuer.example.org" }));
    expect(
      (await outcome(withIss, { ...opts, issuer: "https://issuer.example.org", subject: ID })).reason,
    ).toBe("accepted");
    expect((await outcome(sign(), { ...opts, keys: [keyWithout({ key_ops: ["verify"] })] })).reason).toBe(
      "accepted",
    );
  });
  for (const row of ROWS) {
    it(`refuses: ${row.name} (${row.reason})`, async () => {
      const o = await outcome(row.make(), { ...opts, ...row.opts });
      expect(o.reason).toBe(row.reason);
      expect(o.message).toMatch(row.message);
    });
  }
});

describe("JWT-SVID: arbitrary input (property)", () => {
  it("refuses any string with a DeniedError, never a crash", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 200 }), fc.stringMatching(/^[A-Za-z0-9_=.-]{0,120}$/)),
        async (s) => {
          expect((await outcome(s)).reason).not.toBe("accepted");
        },
      ),
      { numRuns: 300 },
    );
  });
  it("refuses every one-character change to a valid token", async () => {
    const good = await sign();
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: good.length }),
        fc.constantFrom(..."AQw9-_.= \n/+".split("")),
        async (at, ch) => {
          const mutated = good.slice(0, at) + ch + good.slice(at + 1);
          if (mutated === good) return;
          expect((await outcome(mutated)).reason).not.toBe("accepted");
        },
      ),
      { numRuns: 300 },
    );
  });
});
