// Small statistics for the benchmark: percentiles of latency samples, a bounded uniform
// sample of an unbounded stream (so a worker reports a fixed-size array), and medians.

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Reservoir sampling (Vitter's algorithm R): every value seen is kept with equal chance. */
export class Reservoir {
  readonly values: number[] = [];
  seen = 0;
  #cap: number;

  constructor(cap: number) {
    this.#cap = cap;
  }

  add(v: number): void {
    this.seen++;
    if (this.values.length < this.#cap) this.values.push(v);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.#cap) this.values[j] = v;
    }
  }
}
