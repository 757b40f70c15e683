// Adversarial table for task tokens (RFC 8725, DESIGN.md §7): one row per token built to slip
// past a check, each signed for real so that only the check under test can refuse it. Every row
// must be refused with a message that names what is wrong; the control row must pass.
import * as fc from "fast-check";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { CryptoKey } from "../../lib/identity/crypto.ts";
import { b64u, signJsonText, signSegments } from "../../lib/identity/jwt-attacks.ts";
import { TASK_TOKEN_TYP, TaskTokenVerifier, type TrustedIssuer } from "./tasktoken.ts";

const ISS = "https://orchestrator.example.org";
const AGENT = "spiffe://example.org/ns/agents/sa/researcher";
const OTHER_AGENT = "spiffe://example.org/ns/agents/sa/deployer";
/** A configured task-token audience every agent of the enclave shares. */
const SHARED_AUD = "https://tasks.example.org";
const now = Math.floor(Date.now() / 1000);

let priv: CryptoKey;
let pubJwk: JWK;
let attackerPriv: CryptoKey;
let attackerJwk: JWK;

function verifierWith(keys: Record<string, unknown>[]): TaskTokenVerifier {
  const issuers: TrustedIssuer[] = [{ issuer: ISS, jwks: { keys } }];
  return new TaskTokenVerifier(issuers, { audiences: [AGENT, SHARED_AUD], subject: AGENT });
}
let verifier: TaskTokenVerifier;

beforeAll(async () => {
  const kp = await generateKeyPair("ES256", { extractable: true });
  priv = kp.privateKey as unknown as CryptoKey;
  pubJwk = await exportJWK(kp.publicKey);
  const atk = await generateKeyPair("ES256", { extractable: true });
  attackerPriv = atk.privateKey as unknown as CryptoKey;
  attackerJwk = await exportJWK(atk.publicKey);
  verifier = verifierWith([{ ...pubJwk, alg: "ES256", kid: "k1" }]);
});

const HEADER = { alg: "ES256", typ: TASK_TOKEN_TYP, kid: "k1" };
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: ISS,
  sub: AGENT,
  aud: AGENT,
  iat: now,
  exp: now + 300,
  task_id: "task-1",
  allowed_tools: ["search"],
  ...extra,
});
const without = (key: string) => {
  const c: Record<string, unknown> = claims();
  delete c[key];
  return c;
};
const token = (payload: unknown = claims(), header: unknown = HEADER) =>
  signJsonText(priv, JSON.stringify(header), JSON.stringify(payload));

/** base64url of `json` with '=' padding, adding a space to the JSON until padding is needed. */
function padded(json: string): string {
  let text = json;
  while (b64u(text).length % 4 === 0) text = `${text} `;
  const seg = b64u(text);
  return seg + "=".repeat((4 - (seg.length % 4)) % 4);
}

async function refusal(t: string | Promise<string>, v: TaskTokenVerifier = verifier): Promise<string> {
  const err = await v.verify(await t).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) return "accepted";
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(TypeError);
  return (err as Error).message;
}

const ROWS: {
  name: string;
  make: () => Promise<string>;
  message: RegExp;
  verifier?: () => TaskTokenVerifier;
}[] = [
  {
    name: "token minted for another agent, audience shared by both",
    make: () => token(claims({ sub: OTHER_AGENT, aud: SHARED_AUD })),
    message: /sub claim spiffe:\/\/example\.org\/ns\/agents\/sa\/deployer is not the presenting agent/,
  },
  {
    name: "sub is a bare name, not a SPIFFE ID",
    make: () => token(claims({ sub: "researcher" })),
    message: /sub claim must be the agent's SPIFFE ID/,
  },
  {
    name: "missing typ",
    make: () => token(claims(), { alg: "ES256", kid: "k1" }),
    message: /typ must be .*\(it is missing\)/,
  },
  {
    name: "typ JWT (a JWT-SVID or any other JWT replayed as a task token)",
    make: () => token(claims(), { ...HEADER, typ: "JWT" }),
    message: /typ must be .*got "JWT"/,
  },
  { name: "typ JOSE", make: () => token(claims(), { ...HEADER, typ: "JOSE" }), message: /typ must be/ },
  {
    name: "duplicate header member kid",
    make: () =>
      signJsonText(
        priv,
        `{"alg":"ES256","typ":"${TASK_TOKEN_TYP}","kid":"k2","kid":"k1"}`,
        JSON.stringify(claims()),
      ),
    message: /header repeats a member/,
  },
  {
    name: "duplicate header member alg (none first)",
    make: () =>
      signJsonText(
        priv,
        `{"alg":"none","alg":"ES256","typ":"${TASK_TOKEN_TYP}","kid":"k1"}`,
        JSON.stringify(claims()),
      ),
    message: /header repeats a member/,
  },
  {
    name: "missing kid",
    make: () => token(claims(), { alg: "ES256", typ: TASK_TOKEN_TYP }),
    message: /no kid/,
  },
  {
    name: "jku header (fetch my keys from here)",
    make: () => token(claims(), { ...HEADER, jku: "https://evil.example/jwks.json" }),
    message: /header carries "jku"/,
  },
  {
    name: "x5u header",
    make: () => token(claims(), { ...HEADER, x5u: "https://evil.example/cert.pem" }),
    message: /header carries "x5u"/,
  },
  {
    name: "jwk header embedding the attacker's own key",
    make: () =>
      signJsonText(attackerPriv, JSON.stringify({ ...HEADER, jwk: attackerJwk }), JSON.stringify(claims())),
    message: /header carries "jwk"/,
  },
  {
    name: "x5c header",
    make: () => token(claims(), { ...HEADER, x5c: ["MIIB"] }),
    message: /header carries "x5c"/,
  },
  {
    name: "crit header",
    make: () => token(claims(), { ...HEADER, crit: ["exp"] }),
    message: /header carries "crit"/,
  },
  {
    name: "padded base64url header",
    make: () => signSegments(priv, padded(JSON.stringify(HEADER)), b64u(JSON.stringify(claims()))),
    message: /header is not base64url without padding/,
  },
  {
    name: "padded base64url payload",
    make: () => signSegments(priv, b64u(JSON.stringify(HEADER)), padded(JSON.stringify(claims()))),
    message: /payload is not base64url without padding/,
  },
  {
    name: "line break inside the payload segment",
    make: () => {
      const p = b64u(JSON.stringify(claims()));
      return signSegments(priv, b64u(JSON.stringify(HEADER)), `${p.slice(0, 10)}\n${p.slice(10)}`);
    },
    message: /payload is not base64url without padding/,
  },
  {
    name: "space inside the header segment",
    make: () => {
      const h = b64u(JSON.stringify(HEADER));
      return signSegments(priv, `${h.slice(0, 8)} ${h.slice(8)}`, b64u(JSON.stringify(claims())));
    },
    message: /header is not base64url without padding/,
  },
  {
    name: "standard base64 alphabet (+ and /) in the payload",
    make: async () => {
      const seg = Buffer.from(JSON.stringify(claims({ note: "???>>>" })))
        .toString("base64")
        .replace(/=+$/, "");
      expect(seg).toMatch(/[+/]/);
      return signSegments(priv, b64u(JSON.stringify(HEADER)), seg);
    },
    message: /payload is not base64url without padding/,
  },
  {
    name: "BOM before the header JSON",
    make: () => signJsonText(priv, `\uFEFF${JSON.stringify(HEADER)}`, JSON.stringify(claims())),
    message: /header starts with a byte-order mark/,
  },
  {
    name: "BOM before the payload JSON",
    make: () => signJsonText(priv, JSON.stringify(HEADER), `\uFEFF${JSON.stringify(claims())}`),
    message: /payload starts with a byte-order mark/,
  },
  { name: "null payload", make: () => token(null), message: /payload must be a JSON object, got null/ },
  {
    name: "array payload",
    make: () => token([claims()]),
    message: /payload must be a JSON object, got an array/,
  },
  {
    name: "string payload",
    make: () => token("claims"),
    message: /payload must be a JSON object, got string/,
  },
  { name: "missing iss", make: () => token(without("iss")), message: /no iss claim/ },
  { name: "missing sub", make: () => token(without("sub")), message: /no sub claim/ },
  { name: "missing aud", make: () => token(without("aud")), message: /no aud claim/ },
  { name: "missing exp", make: () => token(without("exp")), message: /no exp claim/ },
  { name: "missing iat", make: () => token(without("iat")), message: /no iat claim/ },
  { name: "missing task_id", make: () => token(without("task_id")), message: /task_id claim is invalid/ },
  {
    name: "exp of 1e400 (Infinity)",
    make: () =>
      signJsonText(
        priv,
        JSON.stringify(HEADER),
        JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400'),
      ),
    message: /exp claim must be a NumericDate/,
  },
  {
    name: "two audiences",
    make: () => token(claims({ aud: [AGENT, SHARED_AUD] })),
    message: /exactly one audience/,
  },
  {
    name: "lifetime over 15 minutes",
    make: () => token(claims({ exp: now + 3600 })),
    message: /lifetime .* exceeds 900s/,
  },
  {
    name: "iat in the future",
    make: () => token(claims({ iat: now + 600, exp: now + 700 })),
    message: /iat claim is in the future/,
  },
  { name: "expired", make: () => token(claims({ iat: now - 1000, exp: now - 100 })), message: /has expired/ },
  {
    name: "untrusted issuer",
    make: () => token(claims({ iss: "https://evil.example" })),
    message: /not trusted/,
  },
  {
    name: "alg none",
    make: () =>
      Promise.resolve(
        `${b64u(JSON.stringify({ ...HEADER, alg: "none" }))}.${b64u(JSON.stringify(claims()))}.`,
      ),
    message: /only ES256/,
  },
  {
    name: "signed by a key the issuer does not publish",
    make: () => signJsonText(attackerPriv, JSON.stringify(HEADER), JSON.stringify(claims())),
    message: /signature does not verify/,
  },
  {
    name: "issuer key marked use: enc",
    make: () => token(),
    verifier: () => verifierWith([{ ...pubJwk, kid: "k1", use: "enc" }]),
    message: /kid is not a verification key/,
  },
  {
    name: "issuer key with key_ops [encrypt] and no use",
    make: () => token(),
    verifier: () => verifierWith([{ ...pubJwk, kid: "k1", key_ops: ["encrypt"] }]),
    message: /kid is not a verification key/,
  },
  {
    name: "allowed_resources pattern with a '..' segment (would widen past a granted prefix on a resolving server)",
    make: () => token(claims({ allowed_resources: ["file:///docs/../etc/*"] })),
    message: /allowed_resources claim is invalid: a URI pattern may not contain '\.' or '\.\.' segments/,
  },
  {
    name: "allowed_resources pattern with a percent-encoded slash",
    make: () => token(claims({ allowed_resources: ["file:///docs%2fsecret/*"] })),
    message: /allowed_resources claim is invalid/,
  },
  {
    name: "allowed_resources pattern without a scheme",
    make: () => token(claims({ allowed_resources: ["/etc/*"] })),
    message: /allowed_resources claim is invalid: a URI pattern is '\*' or a lower-case scheme/,
  },
  {
    name: "allowed_resources a string, not an array",
    make: () => token(claims({ allowed_resources: "file:///docs/*" })),
    message: /allowed_resources claim is invalid/,
  },
  {
    name: "allowed_resources with more than 32 patterns",
    make: () => token(claims({ allowed_resources: Array.from({ length: 33 }, (_, i) => `file:///d${i}/*`) })),
    message: /allowed_resources claim is invalid/,
  },
  {
    name: "allowed_prompts with a wildcard (grants name prompts exactly)",
    make: () => token(claims({ allowed_prompts: ["*"] })),
    message: /allowed_prompts claim is invalid: a prompt name is 1-128 characters/,
  },
  {
    name: "allowed_prompts with a zero-width character",
    make: () => token(claims({ allowed_prompts: ["summ\u200barize"] })),
    message: /allowed_prompts claim is invalid/,
  },
  {
    name: "allowed_prompts null",
    make: () => token(claims({ allowed_prompts: null })),
    message: /allowed_prompts claim is invalid/,
  },
];

describe("task tokens: attack table", () => {
  it("control: a well-formed token for this agent passes", async () => {
    const t = await verifier.verify(await token());
    expect(t).toMatchObject({ taskId: "task-1", allowedTools: ["search"], subject: AGENT, issuer: ISS });
  });
  it("control: a token listing resources and prompts passes and carries them; absent lists are empty", async () => {
    const t = await verifier.verify(
      await token(claims({ allowed_resources: ["file:///docs/*"], allowed_prompts: ["summarize"] })),
    );
    expect(t).toMatchObject({ allowedResources: ["file:///docs/*"], allowedPrompts: ["summarize"] });
    expect(await verifier.verify(await token())).toMatchObject({ allowedResources: [], allowedPrompts: [] });
  });
  it("control: a token for this agent under the shared audience passes", async () => {
    expect(await refusal(token(claims({ aud: SHARED_AUD })))).toBe("accepted");
  });
  for (const row of ROWS) {
    it(`refuses: ${row.name}`, async () => {
      expect(await refusal(row.make(), row.verifier?.())).toMatch(row.message);
    });
  }
});

describe("task tokens: arbitrary input (property)", () => {
  it("refuses any string with an Error that says what is wrong, never a TypeError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (s) => {
        const m = await refusal(s);
        expect(m).not.toBe("accepted");
        expect(m).toMatch(/task token/);
      }),
      { numRuns: 300 },
    );
  });
  it("refuses every one-character change to a valid token", async () => {
    const good = await token();
    const alphabet = "ABCxyz019-_.=+/ \n\uFEFF";
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: good.length }),
        fc.constantFrom(...alphabet.split("")),
        fc.boolean(),
        async (at, ch, replace) => {
          const mutated = good.slice(0, at) + ch + good.slice(replace ? at + 1 : at);
          if (mutated === good) return;
          expect(await refusal(mutated)).not.toBe("accepted");
        },
      ),
      { numRuns: 300 },
    );
  });
});
