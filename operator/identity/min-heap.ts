// A binary min-heap of keys ordered by a due time, with O(log n) reschedule/remove through an
// index map. Secret delivery uses it so only the next renewal is ever waited on (no periodic scan).
export class DueHeap {
  readonly #items: { key: string; due: number }[] = [];
  readonly #index = new Map<string, number>();

  get size(): number {
    return this.#items.length;
  }

  peek(): { key: string; due: number } | undefined {
    return this.#items[0];
  }

  dueOf(key: string): number | undefined {
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.#items[i]!.due;
  }

  /** Inserts or moves `key` to `due`. */
  set(key: string, due: number): void {
    const i = this.#index.get(key);
    if (i === undefined) {
      this.#items.push({ key, due });
      this.#index.set(key, this.#items.length - 1);
      this.#up(this.#items.length - 1);
      return;
    }
    const old = this.#items[i]!.due;
    this.#items[i]!.due = due;
    if (due < old) this.#up(i);
    else this.#down(i);
  }

  delete(key: string): void {
    const i = this.#index.get(key);
    if (i === undefined) return;
    const last = this.#items.pop()!;
    this.#index.delete(key);
    if (i < this.#items.length) {
      this.#items[i] = last;
      this.#index.set(last.key, i);
      this.#up(i);
      this.#down(i);
    }
  }

  /** Removes and returns every key due at or before `now`, earliest first. */
  popDue(now: number): string[] {
    const out: string[] = [];
    while (this.#items.length > 0 && this.#items[0]!.due <= now) {
      const top = this.#items[0]!;
      out.push(top.key);
      this.delete(top.key);
    }
    return out;
  }

  #swap(a: number, b: number): void {
    const x = this.#items[a]!;
    const y = this.#items[b]!;
    this.#items[a] = y;
    this.#items[b] = x;
    this.#index.set(y.key, a);
    this.#index.set(x.key, b);
  }

  #up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.#items[p]!.due <= this.#items[i]!.due) return;
      this.#swap(i, p);
      i = p;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#items[l]!.due < this.#items[m]!.due) m = l;
      if (r < n && this.#items[r]!.due < this.#items[m]!.due) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}
