// TLS serving certificates for our own endpoints (the issuer), signed by the active CA so that
// clients verify them with the trust bundle they already hold. Not SVIDs: DNS/IP SANs, serverAuth.
import { BACKDATE_MS, type CA } from "./ca.ts";
import { certsToPem, ECDSA_SHA256, generateP256, privateKeyToPem, randomSerial, x509 } from "./crypto.ts";

export interface ServingCert {
  certChainPem: string;
  keyPem: string;
  notAfter: Date;
}

export async function issueServingCert(opts: {
  ca: CA;
  dnsNames: string[];
  ipAddresses: string[];
  ttlMs: number;
  now?: Date;
}): Promise<ServingCert> {
  const now = opts.now ?? new Date();
  const keys = await generateP256();
  const names = [
    ...opts.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...opts.ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [opts.dnsNames[0] ?? opts.ipAddresses[0] ?? "agent-warden"] }, { O: ["agent-warden"] }],
    issuer: opts.ca.cert.subjectName,
    notBefore: new Date(Math.max(now.getTime() - BACKDATE_MS, opts.ca.notBefore.getTime())),
    notAfter: new Date(Math.min(now.getTime() + opts.ttlMs, opts.ca.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: opts.ca.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(names, false),
    ],
  });
  return {
    certChainPem: certsToPem([cert, opts.ca.cert, ...(opts.ca.chain ?? [])]),
    keyPem: await privateKeyToPem(keys.privateKey),
    notAfter: cert.notAfter,
  };
}
