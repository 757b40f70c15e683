// The signing authority as every issuer replica sees it: the active CA (signs X.509- and
// JWT-SVIDs), and the full set of trusted CAs (the bundle). The CA manager feeds it from the CA
// Secret; the issuer and the bundle publisher read it. Listeners hear about every change.

import { bundleJWKS, bundlePem, type SpiffeBundle } from "../../lib/identity/bundle.ts";
import type { CA } from "../../lib/identity/ca.ts";
import type { x509 } from "../../lib/identity/crypto.ts";
import { type JWTSigningKey, jwtKid } from "../../lib/identity/jwt-svid.ts";

export interface AuthorityState {
  active: CA;
  /** Every CA to trust, active first; during a rotation also the pending and the retiring CA. */
  trusted: x509.X509Certificate[];
  /** Bumped whenever the trusted set or the active CA changes (SPIFFE bundle spiffe_sequence). */
  sequence: number;
}

export class Authority {
  #state: AuthorityState | undefined;
  #jwtKey: JWTSigningKey | undefined;
  #jwks: SpiffeBundle | undefined;
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
      prev.trusted.map((c) => c.serialNumber).join() === state.trusted.map((c) => c.serialNumber).join();
    if (same) return;
    const kid = await jwtKid(await state.active.cert.publicKey.export());
    const jwks = await bundleJWKS({
      cas: state.trusted,
      sequence: state.sequence,
      refreshHintS: this.refreshHintS,
    });
    this.#state = state;
    this.#jwtKey = { privateKey: state.active.privateKey, kid };
    this.#jwks = jwks;
    for (const cb of this.#listeners) cb(state);
  }

  get ready(): boolean {
    return this.#state !== undefined;
  }

  state(): AuthorityState {
    if (!this.#state) throw new Error("the CA is not loaded yet");
    return this.#state;
  }

  /** The CA that signs now and the JWT key derived from it (the CA key signs JWT-SVIDs too). */
  signer(): { ca: CA; jwtKey: JWTSigningKey } {
    const s = this.state();
    return { ca: s.active, jwtKey: this.#jwtKey! };
  }

  bundlePem(): string {
    return this.#state ? bundlePem(this.#state.trusted) : "";
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
