// The timed window every message-rate worker shares: traffic runs from "go", a warm-up is
// ignored, then deliveries and their latencies are counted for the measured span only.
// Latency is taken in one process (sender and recipient of a pair live together), so one
// monotonic clock times both ends.

import { Reservoir } from "../lib/stats.ts";
import { serve, toRunner } from "../lib/worker.ts";
import type { ByteWriter } from "../lib/byte-writer.ts";

export const LATENCY_SAMPLES = 20_000;

export class RateWindow {
  /** Traffic flows from "go" until the measured span ends; pumps stop sending after. */
  running = false;
  measuring = false;
  delivered = 0;
  failures = 0;
  readonly latencies = new Reservoir(LATENCY_SAMPLES);
  #start = 0;
  #end = 0;

  /** Resolves when the measured span is over; the caller keeps traffic going till then. */
  async run(warmupMs: number, measureMs: number): Promise<void> {
    await Bun.sleep(warmupMs);
    this.#start = performance.now();
    this.measuring = true;
    await Bun.sleep(measureMs);
    this.measuring = false;
    this.#end = performance.now();
  }

  /** A message arrived at its recipient; sentAt is performance.now() at its sending. */
  arrived(sentAt: number): void {
    if (!this.measuring) return;
    this.delivered++;
    this.latencies.add(performance.now() - sentAt);
  }

  /**
   * n messages arrived together (one read): message k of them was sent at
   * sentAt[(first + k) % sentAt.length]. One clock reading for all, as they came in one read.
   */
  arrivedMany(n: number, sentAt: Float64Array, first: number): void {
    if (!this.measuring) return;
    const now = performance.now();
    this.delivered += n;
    for (let k = 0; k < n; k++) this.latencies.add(now - sentAt[(first + k) % sentAt.length]!);
  }

  result(): { t: "result"; delivered: number; seconds: number; latenciesMs: number[]; failures: number } {
    return {
      t: "result",
      delivered: this.delivered,
      seconds: (this.#end - this.#start) / 1000,
      latenciesMs: this.latencies.values,
      failures: this.failures,
    };
  }
}

/** A baseline pair's sending side: message n left at sentAt[n % window], the window being sentAt's length. */
export interface WindowSender {
  tx: ByteWriter;
  sentAt: Float64Array;
  sent: number;
  inflight: number;
}

/**
 * Send as many as the window has room for, in one write. `frames` holds a window's worth of
 * the same message, `frameLen` bytes each, back to back, so any count of them is a prefix.
 */
export function pumpWindow(win: RateWindow, p: WindowSender, frames: Uint8Array, frameLen: number): void {
  if (!win.running) return;
  const size = p.sentAt.length;
  const n = size - p.inflight;
  if (n <= 0) return;
  const now = performance.now();
  for (let k = 0; k < n; k++) p.sentAt[(p.sent + k) % size] = now;
  p.sent += n;
  p.inflight += n;
  p.tx.write(n === size ? frames : frames.subarray(0, n * frameLen));
}

/**
 * What every pairs worker does with the runner: "config" sets up its pairs and answers
 * ready; "go" starts each pair's pump, keeps traffic going through the warm-up and the
 * measured span, reports, then ends the pairs. No exit here: an IPC message in flight would
 * be lost. The runner stops the process.
 */
export function servePairs<C, P>(win: RateWindow, o: { setup(c: C): Promise<P[]>; pump(p: P): void; end?(p: P): void }): void {
  let pairs: P[] = [];
  serve(async (m) => {
    if (m.t === "config") {
      pairs = await o.setup(m as unknown as C);
      toRunner({ t: "ready" });
    } else if (m.t === "go") {
      win.running = true;
      for (const p of pairs) o.pump(p);
      await win.run(Number(m.warmupMs), Number(m.measureMs));
      win.running = false;
      toRunner(win.result());
      if (o.end) for (const p of pairs) o.end(p);
    }
  });
}
