// The signing authority as every issuer replica sees it: the active CA (signs X.509-SVIDs only),
// the active JWT-SVID key (its own P-256 key), and what relying parties trust (the bundle: CAs as
// x509-svid, JWT keys as jwt-svid). The CA manager feeds it from the CA Secret; the issuer and the
// bundle publisher read it. Listeners hear about every change.
import type * as jose from "jose";

import { bundleJWKS, bundlePem, type SpiffeBundle } from "../../lib/identity/bundle.ts";
import type { CA } from "../../lib/identity/ca.ts";
import type { x509 } from "../../lib/identity/crypto.ts";
import type { JWTSigningKey } from "../../lib/identity/jwt-svid.ts";

export interface AuthorityState {
  active: CA;
  /** Every CA to trust, active first; during a rotation also the pending and the retiring CA. */
  trusted: x509.X509Certificate[];
  /** Bumped whenever the trusted set or the active CA changes (SPIFFE bundle spiffe_sequence). */
  sequence: number;
  /**
   * The JWT-SVID key that signs now and every public JWT key to publish (active, pending,
   * retiring). Absent: this replica cannot sign JWT-SVIDs (refused, never signed with the CA key).
   */
  jwt?: { signer: JWTSigningKey; trusted: jose.JWK[] };
}

const kids = (s: AuthorityState | undefined) =>
  s?.jwt ? [s.jwt.signer.kid, ...s.jwt.trusted.map((k) => k.kid)].join() : "";

export class Authority {
  #state: AuthorityState | undefined;
  #jwks: SpiffeBundle | undefined;
  /** The PEM of `trusted`, written once per state: the issuer sends it with every SVID. */
  #bundlePem = "";
  #listeners: ((s: AuthorityState) => void)[] = [];
  readonly refreshHintS: number;

  constructor(opts: { refreshHintS?: number } = {}) {
    this.refreshHintS = opts.refreshHintS ?? 300;
  }

  async set(state: AuthorityState): Promise<void> {
    const prev = this.#state;
    const same =
      prev &&
      prev.active.serial === state.active.serial &&
      prev.trusted.map((c) => c.serialNumber).join() === state.trusted.map((c) => c.serialNumber).join() &&
      kids(prev) === kids(state);
    if (same) return;
    const jwks = await bundleJWKS({
      cas: state.trusted,
      jwtKeys: state.jwt?.trusted ?? [],
      sequence: state.sequence,
      refreshHintS: this.refreshHintS,
    });
    this.#state = state;
    this.#jwks = jwks;
    this.#bundlePem = bundlePem(state.trusted);
    for (const cb of this.#listeners) cb(state);
  }

  get ready(): boolean {
    return this.#state !== undefined;
  }

  state(): AuthorityState {
    if (!this.#state) throw new Error("the CA is not loaded yet");
    return this.#state;
  }

  /** The CA that signs certificates now and the JWT-SVID key that signs tokens now (if any). */
  signer(): { ca: CA; jwtKey: JWTSigningKey | undefined } {
    const s = this.state();
    return { ca: s.active, jwtKey: s.jwt?.signer };
  }

  bundlePem(): string {
    return this.#bundlePem;
  }

  bundleJWKS(): SpiffeBundle {
    if (!this.#jwks) throw new Error("the CA is not loaded yet");
    return this.#jwks;
  }

  onChange(cb: (s: AuthorityState) => void): () => void {
    this.#listeners.push(cb);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== cb);
    };
  }
}
