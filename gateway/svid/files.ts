// An SvidSource backed by mounted files (Secret delivery of the SVID, and tests): the PEM chain,
// the PKCS#8 key and the trust bundle, re-read when they change. A pair that does not match, or a
// missing file, leaves the previous SVID in force until it expires (rotation is not atomic across
// two files, so a half-written update must not drop the identity).
import { readText, type Watched, watchFiles } from "../watch.ts";
import { type Svid, type SvidSource, secondsUntil, svidFromPem } from "./source.ts";

export class FileSvidSource implements SvidSource {
  readonly #certFile: string;
  readonly #keyFile: string;
  readonly #bundleFile: string | undefined;
  #svid: Svid | undefined;
  #error: string | undefined;
  #watch: Watched | undefined;
  readonly #listeners = new Set<(s: Svid) => void>();
  #readyWaiters: (() => void)[] = [];

  constructor(certFile: string, keyFile: string, bundleFile?: string) {
    this.#certFile = certFile;
    this.#keyFile = keyFile;
    this.#bundleFile = bundleFile;
    this.reload();
    this.#watch = watchFiles(
      [certFile, keyFile, ...(bundleFile ? [bundleFile] : [])],
      () => this.reload(),
      1000,
    );
  }

  /** Why the files could not be used the last time they were read, if they could not. */
  get error(): string | undefined {
    return this.#error;
  }

  reload(): void {
    try {
      const chain = readText(this.#certFile);
      const key = readText(this.#keyFile);
      const bundle = this.#bundleFile ? readText(this.#bundleFile) : "";
      const next = svidFromPem(chain, key, bundle);
      const cur = this.#svid;
      this.#error = undefined;
      if (
        cur &&
        cur.certChainPem === next.certChainPem &&
        cur.keyPem === next.keyPem &&
        cur.bundlePem === next.bundlePem
      ) {
        return;
      }
      this.#svid = next;
      for (const l of this.#listeners) l(next);
      for (const w of this.#readyWaiters) w();
      this.#readyWaiters = [];
    } catch (e) {
      this.#error = (e as Error).message;
    }
  }

  current(): Svid | undefined {
    return this.#svid;
  }

  ready(): Promise<void> {
    return this.#svid ? Promise.resolve() : new Promise((r) => this.#readyWaiters.push(r));
  }

  secondsLeft(): number {
    return secondsUntil(this.#svid);
  }

  onUpdate(fn: (svid: Svid) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  close(): void {
    this.#watch?.close();
  }
}
