// Load generator for the soak (bench/soak.ts): the relay-rate figure's pairs, set up as
// pairs-smsg.ts sets them up (logged in, keys published, a pool of sealed 1 KiB messages
// each), but paced to a fixed rate for as long as the runner lets it run, and counting
// every message: sent, delivered (its chunk reached the recipient), failed (SEND_FAILED,
// or a pair's connection gone), with latencies sampled per reporting period.
//
// Messages from the runner: "config" (PairsSmsgConfig and ratePerSecond, this worker's
// share), "go", "sample" (answers the totals and the period's latencies), "drain" (stops
// sending, waits for what is in flight, answers the totals, closes the pairs).

import { Reservoir } from "../lib/stats.ts";
import { serve, toRunner } from "../lib/worker.ts";
import { BATCH, POOL, setup, slotOf, ZERO_RECEIPT, type Pair, type PairsSmsgConfig } from "./pairs-smsg.ts";

/** Latencies kept per reporting period: enough for a p99 of the whole run. */
const SAMPLES_PER_PERIOD = 2000;
const TICK_MS = 5;
/** The real client's heartbeat period: at a low --rate a pair may send nothing for longer
 * than the relay's heartbeat timeout. */
const HEARTBEAT_MS = 10_000;

let pairs: Pair[] = [];
let rate = 0;
let windowSize = 8;
let sending = false;
let started = 0;
let issued = 0; // messages sent since go
let nextPair = 0;
const totals = { sent: 0, delivered: 0, failed: 0, closed: 0 };
let period = new Reservoir(SAMPLES_PER_PERIOD);
let ticker: ReturnType<typeof setInterval> | undefined;
let beater: ReturnType<typeof setInterval> | undefined;

function inflight(): number {
  return pairs.reduce((n, p) => n + p.inflight, 0);
}

/** Send what the rate says is due by now, round-robin over pairs with room in their window. */
function tick(): void {
  if (!sending) return;
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  let blocked = 0;
  while (issued < due && blocked < pairs.length) {
    const p = pairs[nextPair]!;
    nextPair = (nextPair + 1) % pairs.length;
    if (p.inflight >= windowSize || p.tx!.closed) {
      blocked++;
      continue;
    }
    blocked = 0;
    const slot = p.next;
    p.next = (p.next + 1) % POOL;
    const pair = p.items.subarray(p.itemAt[slot]!, p.itemAt[slot + 1]!); // its SEND and CHUNK as BATCH items
    p.sentAt[slot] = performance.now();
    p.inflight++;
    issued++;
    totals.sent++;
    p.tx!.sendPlaintext([BATCH, pair], 1 + pair.length);
  }
}

function wire(p: Pair): void {
  const rx = p.rx!;
  rx.handlers = {
    onMessage: (m) => {
      if (m.t !== "chunk") return;
      totals.delivered++;
      period.add(performance.now() - p.sentAt[slotOf(m.id, 0)]!);
      rx.post({ t: "ack", id: m.id, status: "stored", receipt: ZERO_RECEIPT });
    },
    onClose: () => void totals.closed++,
  };
  p.tx!.handlers = {
    onMessage: (m) => {
      if (m.t === "ack") p.inflight--;
      else if (m.t === "sendFailed") {
        if (totals.failed++ < 3) console.error("sendFailed", m.reason);
        p.inflight--;
      }
    },
    onClose: () => void totals.closed++,
  };
}

function report(t: string): Record<string, unknown> & { t: string } {
  const latenciesMs = period.values;
  period = new Reservoir(SAMPLES_PER_PERIOD);
  return { t, ...totals, inflight: inflight(), latenciesMs };
}

serve(async (m) => {
  if (m.t === "config") {
    const c = m as unknown as PairsSmsgConfig & { ratePerSecond: number };
    rate = c.ratePerSecond;
    windowSize = c.window;
    pairs = await setup(c);
    for (const p of pairs) wire(p);
    toRunner({ t: "ready" });
  } else if (m.t === "go") {
    sending = true;
    started = performance.now();
    ticker = setInterval(tick, TICK_MS);
    beater = setInterval(() => {
      for (const p of pairs) for (const c of [p.tx!, p.rx!]) c.post({ t: "heartbeat" });
    }, HEARTBEAT_MS);
  } else if (m.t === "sample") {
    toRunner(report("sample"));
  } else if (m.t === "drain") {
    sending = false;
    clearInterval(ticker);
    clearInterval(beater);
    const deadline = Date.now() + Number(m.timeoutMs ?? 30_000);
    while (inflight() > 0 && Date.now() < deadline) await Bun.sleep(20);
    toRunner(report("drained"));
    for (const p of pairs) {
      p.tx!.handlers = {};
      p.rx!.handlers = {};
      p.tx!.close();
      p.rx!.close();
    }
  }
});
