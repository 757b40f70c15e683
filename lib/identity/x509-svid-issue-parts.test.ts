// The pieces issuance got faster with: the regex-free CSR PEM reader (never different from the
// regex reader it short-cuts), the pooled serials (same shape as randomSerial, never repeating),
// the PEM writer (what openssl and @peculiar/x509 read) and the remembered SPIFFE ID check
// (throws exactly what parseWorkloadID throws).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import { generateP256, x509 } from "./crypto.ts";
import { createCSR } from "./csr.ts";
import { parseWorkloadID } from "./spiffe-id.ts";
import { checkWorkloadID, csrDER, csrDERFast, nextSerial, pemBlock } from "./x509-svid-issue.ts";

const ID = "spiffe://example.org/ns/agents/sa/bot";
const csrPem = await createCSR(await generateP256(), ID);

/** csrDER without the fast path: the block regex, exactly as before. */
function regexCSRDER(pem: string): Buffer | string {
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)];
  if (blocks.length !== 1 || blocks[0]![1] !== "CERTIFICATE REQUEST") return "refused";
  const b64 = blocks[0]![2]!.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return "refused";
  return Buffer.from(b64, "base64");
}

const outcome = (f: () => Buffer | undefined): string => {
  try {
    const b = f();
    return b === undefined ? "undefined" : b.toString("hex");
  } catch (e) {
    return e instanceof ValidationError ? "refused" : `threw ${(e as Error).name}`;
  }
};

describe("csrDERFast", () => {
  const body = csrPem.split("\n").slice(1, -2).join("\n");
  const table: { name: string; pem: string; fast: "bytes" | "undefined" }[] = [
    { name: "a CSR as createCSR writes it", pem: csrPem, fast: "bytes" },
    { name: "CRLF line ends", pem: csrPem.replace(/\n/g, "\r\n"), fast: "bytes" },
    { name: "text around the block", pem: `subject: bot\n${csrPem}trailer\n`, fast: "bytes" },
    {
      name: "base64 on one line",
      pem: `-----BEGIN CERTIFICATE REQUEST-----${body.replace(/\n/g, "")}-----END CERTIFICATE REQUEST-----`,
      fast: "bytes",
    },
    { name: "two requests", pem: csrPem + csrPem, fast: "undefined" },
    {
      name: "a certificate block",
      pem: csrPem.replace(/CERTIFICATE REQUEST/g, "CERTIFICATE"),
      fast: "undefined",
    },
    { name: "no END line", pem: csrPem.replace("-----END CERTIFICATE REQUEST-----", ""), fast: "undefined" },
    {
      name: "mismatched END label",
      pem: csrPem.replace("END CERTIFICATE REQUEST", "END CERTIFICATE"),
      fast: "undefined",
    },
    { name: "a non-ASCII space inside", pem: csrPem.replace("\n", "\u00a0\n"), fast: "undefined" },
    { name: "a character outside base64", pem: csrPem.replace(/\n(.)/, "\n*$1"), fast: "undefined" },
    { name: "padding in the middle", pem: csrPem.replace(/\n(.)/, "\n=$1"), fast: "undefined" },
    {
      name: "three padding characters",
      pem: csrPem.replace(/=*\n-----END/, "===\n-----END"),
      fast: "undefined",
    },
    { name: "a length not a multiple of four", pem: csrPem.replace(/\n(.)/, "\n$1A"), fast: "undefined" },
    { name: "a lower-case BEGIN label before it", pem: `-----BEGIN x-----\n${csrPem}`, fast: "undefined" },
    { name: "empty", pem: "", fast: "undefined" },
  ];
  for (const c of table) {
    it(c.name, () => {
      const fast = outcome(() => csrDERFast(c.pem));
      expect(fast === "undefined" ? "undefined" : "bytes").toBe(c.fast);
      // Whatever the fast path returns, the regex reader returns the same bytes.
      if (fast !== "undefined") expect(fast).toBe(outcome(() => regexCSRDER(c.pem) as Buffer));
    });
  }

  const pemChars = fc.constantFrom(
    ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=- \n\r\t\v\f\u00a0\u2028\ufeff*",
  );
  it("returns nothing or what the regex reader returns, on mutated CSRs (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: csrPem.length }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(pemChars, { maxLength: 8 }),
        (at, cut, insert) => {
          const pem = csrPem.slice(0, at) + insert.join("") + csrPem.slice(at + cut);
          const fast = outcome(() => csrDERFast(pem));
          if (fast !== "undefined") expect(fast).toBe(outcome(() => regexCSRDER(pem) as Buffer));
          // And csrDER as a whole answers as the regex reader does.
          const whole = outcome(() => csrDER(pem));
          const ref = regexCSRDER(pem);
          expect(whole).toBe(typeof ref === "string" ? ref : ref.toString("hex"));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("returns nothing or what the regex reader returns, on arbitrary text (property)", () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .array(
          fc.oneof(
            fc.constantFrom(
              "-----BEGIN CERTIFICATE REQUEST-----",
              "-----END CERTIFICATE REQUEST-----",
              "-----BEGIN ",
              "-----",
            ),
            fc.string({ unit: pemChars, maxLength: 20 }),
          ),
          { maxLength: 8 },
        )
        .map((parts) => parts.join("")),
    );
    fc.assert(
      fc.property(text, (pem) => {
        const fast = outcome(() => csrDERFast(pem));
        if (fast !== "undefined") expect(fast).toBe(outcome(() => regexCSRDER(pem) as Buffer));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("nextSerial", () => {
  it("is 16 bytes, positive, with a non-zero top byte, and never repeats across pool refills", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const b = nextSerial();
      expect(b.length).toBe(16);
      expect(b[0]! & 0x80).toBe(0);
      expect(b[0]! & 0x40).toBe(0x40);
      const hex = b.toString("hex");
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
  });
});

describe("pemBlock", () => {
  it("writes 64-character lines that @peculiar/x509 decodes back to the same bytes (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), (der) => {
        const pem = pemBlock("CERTIFICATE", der);
        const lines = pem.trimEnd().split("\n");
        expect(lines[0]).toBe("-----BEGIN CERTIFICATE-----");
        expect(lines.at(-1)).toBe("-----END CERTIFICATE-----");
        for (const l of lines.slice(1, -1)) expect(l.length).toBeLessThanOrEqual(64);
        expect(Buffer.from(x509.PemConverter.decode(pem)[0]!).equals(Buffer.from(der))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe("checkWorkloadID", () => {
  const ids = [
    ID,
    "spiffe://example.org",
    "spiffe://example.org/",
    "SPIFFE://example.org/a",
    "spiffe://Example.org/a",
    "spiffe://example.org/a/../b",
    "spiffe://example.org/a?b",
    "https://example.org/a",
    `spiffe://example.org/${"a".repeat(3000)}`,
  ];
  for (const id of ids) {
    it(`answers as parseWorkloadID does for ${id.slice(0, 40)}, twice`, () => {
      const run = (check: (id: string) => unknown) => () => {
        check(id);
        return undefined;
      };
      const want = outcome(run(parseWorkloadID));
      expect(outcome(run(checkWorkloadID))).toBe(want);
      expect(outcome(run(checkWorkloadID))).toBe(want);
    });
  }
});
