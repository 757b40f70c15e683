import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { TASK_TOKEN_TYP, TaskTokenVerifier } from "./tasktoken.ts";

const AUD = "spiffe://example.org/ns/a/sa/agent";
let priv: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
let verifier: TaskTokenVerifier;
const now = Math.floor(Date.now() / 1000);
const mint = (claims: Record<string, unknown>, alg = "ES256", key: typeof priv | Uint8Array = priv) =>
  new SignJWT({ task_id: "t-1", allowed_tools: ["search"], ...claims })
    .setProtectedHeader({ alg, typ: TASK_TOKEN_TYP, kid: "k1" })
    .setIssuer((claims.iss as string) ?? "https://orchestrator")
    .setSubject(AUD)
    .setAudience((claims.aud as string) ?? AUD)
    .setIssuedAt((claims.iat as number) ?? now)
    .setExpirationTime((claims.exp as number) ?? now + 300)
    .sign(key);

beforeAll(async () => {
  const kp = await generateKeyPair("ES256");
  priv = kp.privateKey;
  const jwk = { ...(await exportJWK(kp.publicKey)), alg: "ES256", kid: "k1" };
  verifier = new TaskTokenVerifier([{ issuer: "https://orchestrator", jwks: { keys: [jwk] } }], {
    audiences: [AUD],
    subject: AUD,
  });
});

describe("TaskTokenVerifier", () => {
  it("accepts a valid token and returns the task grant", async () => {
    const t = await verifier.verify(await mint({}));
    expect(t).toMatchObject({ taskId: "t-1", allowedTools: ["search"] });
  });
  it("refuses wrong audience, untrusted issuer, long lifetime, expiry and non-ES256", async () => {
    await expect(verifier.verify(await mint({ aud: "someone-else" }))).rejects.toThrow(/aud/);
    await expect(verifier.verify(await mint({ iss: "https://evil" }))).rejects.toThrow(/not trusted/);
    await expect(verifier.verify(await mint({ exp: now + 3600 }))).rejects.toThrow(/lifetime/);
    await expect(verifier.verify(await mint({ iat: now - 1000, exp: now - 100 }))).rejects.toThrow(/exp/);
    const hs = await mint({}, "HS256", new TextEncoder().encode("x".repeat(32)));
    await expect(verifier.verify(hs)).rejects.toThrow(/only ES256/);
  });
  it("refuses a payload with duplicate claim keys", async () => {
    const good = await mint({});
    const [h, , s] = good.split(".");
    const dup = Buffer.from(
      `{"iss":"https://orchestrator","allowed_tools":["search"],"allowed_tools":["deploy"]}`,
    ).toString("base64url");
    await expect(verifier.verify(`${h}.${dup}.${s}`)).rejects.toThrow(/payload repeats a member/);
  });
});
