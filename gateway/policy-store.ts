// The mounted policy, reloaded when it changes. Fail closed: when the file is missing or does not
// validate, the store holds the reason instead of a policy and every call is denied with it. We
// deliberately do not keep "the last good one": a policy that was withdrawn or broken must not
// go on granting tools.
import type * as z from "zod";
import { parseStrictJson } from "./decide/json.ts";
import { readText, type Watched, watchFiles } from "./watch.ts";

export type PolicyState<T> = { ok: true; policy: T; loadedAt: Date } | { ok: false; reason: string };

export class PolicyStore<T extends { version: string }> {
  readonly #file: string;
  readonly #schema: z.ZodType<T>;
  #state: PolicyState<T> = { ok: false, reason: "the policy has not been loaded yet" };
  #watch: Watched | undefined;
  readonly #listeners = new Set<(s: PolicyState<T>) => void>();

  constructor(file: string, schema: z.ZodType<T>) {
    this.#file = file;
    this.#schema = schema;
  }

  get state(): PolicyState<T> {
    return this.#state;
  }

  onChange(fn: (s: PolicyState<T>) => void): void {
    this.#listeners.add(fn);
  }

  load(): PolicyState<T> {
    let text: string;
    try {
      text = readText(this.#file);
    } catch (e) {
      return this.#set({
        ok: false,
        reason: `policy file ${this.#file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      });
    }
    let raw: unknown;
    try {
      raw = parseStrictJson(text, { maxBytes: 16 * 1024 * 1024, maxDepth: 64 });
    } catch (e) {
      return this.#set({
        ok: false,
        reason: `policy file ${this.#file} is not valid JSON: ${(e as Error).message}`,
      });
    }
    const r = this.#schema.safeParse(raw);
    if (!r.success) {
      const issues = r.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
        .join("; ");
      return this.#set({ ok: false, reason: `policy file ${this.#file} is invalid: ${issues}` });
    }
    return this.#set({ ok: true, policy: r.data, loadedAt: new Date() });
  }

  #set(s: PolicyState<T>): PolicyState<T> {
    const changed = !(s.ok && this.#state.ok && s.policy.version === this.#state.policy.version);
    this.#state = s;
    if (changed) for (const l of this.#listeners) l(s);
    return s;
  }

  watch(): void {
    this.load();
    this.#watch = watchFiles([this.#file], () => this.load());
  }

  close(): void {
    this.#watch?.close();
  }
}
