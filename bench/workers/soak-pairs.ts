// Load generator for the soak (bench/soak.ts): the relay-rate figure's pairs, set up as
// pairs-smsg.ts sets them up (logged in, keys published, a pool of sealed 1 KiB messages
// each), but paced to a fixed rate for as long as the runner lets it run, and counting
// every message: sent (new messages only), delivered (its chunk reached the recipient for
// the first time), failed (SEND_FAILED, or a pair's connection gone), with latencies
// sampled per reporting period.
//
// Each pair's pool has 16 slots with fixed ids; a slot holds one message from its SEND
// until the recipient's ACK comes back, so a chunk for a slot that was already delivered is
// a duplicate (a resend of a message that had arrived), counted apart and not delivered twice.
//
// Given `retry` (the cluster soak), a pair behaves as the real client's outbox does
// (SPEC.md §7.1): SEND_FAILED is not final, the same message goes again after 1 s; when a
// pair loses a connection (its node was killed) both its connections log in again on the
// first node that takes them, publish fresh session keys, ask for the recipient's new key,
// seal the pool anew with the same ids and resend every message not yet ACKed. So nothing
// is counted failed for a kill; what is never delivered by the drain's deadline is lost.
//
// Messages from the runner: "config" (PairsSmsgConfig, ratePerSecond: this worker's share,
// optionally servers and retry), "go", "sample" (answers the totals and the period's
// latencies), "drain" (stops sending, waits for what is in flight, answers the totals,
// closes the pairs).

import { BareClient } from "../lib/bare-client.ts";
import { Reservoir } from "../lib/stats.ts";
import { loginKey } from "../lib/users.ts";
import { serve, toRunner } from "../lib/worker.ts";
import { BATCH, getKey, POOL, sealPool, setup, slotOf, ZERO_RECEIPT, type Pair, type PairsSmsgConfig } from "./pairs-smsg.ts";

export interface SoakPairsConfig extends PairsSmsgConfig {
  ratePerSecond: number;
  /** Every node, in the order a pair that lost a connection tries them (cluster soak). */
  servers?: { host: string; port: number }[];
  /** Retry as the real client does instead of counting a failure (see above). */
  retry?: boolean;
}

/** Latencies kept per reporting period: enough for a p99 of the whole run. */
const SAMPLES_PER_PERIOD = 2000;
const TICK_MS = 5;
/** The real client's heartbeat period: at a low --rate a pair may send nothing for longer
 * than the relay's heartbeat timeout. */
const HEARTBEAT_MS = 10_000;
/** The reference outbox's wait after SEND_FAILED busy/stale-key/aborted (SPEC.md §7.1). */
const RETRY_MS = 1000;
const REJOIN_MAX_BACKOFF_MS = 5000;
const KEY_WAIT_MS = 10_000;

interface SoakPair extends Pair {
  unacked: Uint8Array; // per slot: SENT, no ACK yet
  undelivered: Uint8Array; // per slot: sent, its chunk not yet at the recipient
  generation: Uint32Array; // per slot: messages it has held, so a late retry timer does not resend the next one
  epoch: number; // times the pair was set up again: a retry timer from before was overtaken by the rejoin's resend
  down: boolean;
}

let config: SoakPairsConfig;
let pairs: SoakPair[] = [];
let rate = 0;
let windowSize = 8;
let sending = false;
let draining = false;
let started = 0;
let issued = 0; // messages sent since go
let nextPair = 0;
const totals = { sent: 0, delivered: 0, failed: 0, closed: 0, duplicates: 0, resent: 0, rejoins: 0 };
let period = new Reservoir(SAMPLES_PER_PERIOD);
let ticker: ReturnType<typeof setInterval> | undefined;
let beater: ReturnType<typeof setInterval> | undefined;

function inflight(): number {
  return pairs.reduce((n, p) => n + p.inflight, 0);
}

function slotItems(p: Pair, slot: number): Uint8Array {
  return p.items.subarray(p.itemAt[slot]!, p.itemAt[slot + 1]!); // its SEND and CHUNK as BATCH items
}

/** A free slot from p.next on (one whose last message was ACKed), or -1. */
function freeSlot(p: SoakPair): number {
  for (let k = 0; k < POOL; k++) {
    const s = (p.next + k) % POOL;
    if (!p.unacked[s]) return s;
  }
  return -1;
}

/** Send what the rate says is due by now, round-robin over pairs with room in their window. */
function tick(): void {
  if (!sending) return;
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  let blocked = 0;
  while (issued < due && blocked < pairs.length) {
    const p = pairs[nextPair]!;
    nextPair = (nextPair + 1) % pairs.length;
    const slot = p.inflight >= windowSize || p.down || p.tx!.closed ? -1 : freeSlot(p);
    if (slot < 0) {
      blocked++;
      continue;
    }
    blocked = 0;
    p.next = (slot + 1) % POOL;
    p.generation[slot]!++;
    p.sentAt[slot] = performance.now();
    p.unacked[slot] = 1;
    p.undelivered[slot] = 1;
    p.inflight++;
    issued++;
    totals.sent++;
    const items = slotItems(p, slot);
    p.tx!.sendPlaintext([BATCH, items], 1 + items.length);
  }
}

function resend(p: SoakPair, slot: number): void {
  if (p.down || !p.unacked[slot]) return;
  totals.resent++;
  const items = slotItems(p, slot);
  p.tx!.sendPlaintext([BATCH, items], 1 + items.length);
}

function wire(p: SoakPair): void {
  const rx = p.rx!;
  const tx = p.tx!;
  rx.handlers = {
    onMessage: (m) => {
      if (m.t !== "chunk") return;
      const slot = slotOf(m.id, 0);
      const first = p.undelivered[slot] === 1;
      if (first) {
        p.undelivered[slot] = 0;
        totals.delivered++;
        period.add(performance.now() - p.sentAt[slot]!);
      } else totals.duplicates++;
      // The real recipient stores a message once and answers a resend of it `duplicate`,
      // which its sender takes as `stored` (SPEC.md §6.6).
      rx.post({ t: "ack", id: m.id, status: first ? "stored" : "duplicate", receipt: ZERO_RECEIPT });
    },
    onClose: () => lost(p),
  };
  tx.handlers = {
    onMessage: (m) => {
      if (m.t !== "ack" && m.t !== "sendFailed") return;
      const slot = slotOf(m.id, 0);
      if (!p.unacked[slot]) return;
      if (m.t === "ack") {
        p.unacked[slot] = 0;
        p.inflight--;
      } else if (config.retry) {
        const generation = p.generation[slot];
        const epoch = p.epoch;
        setTimeout(() => p.generation[slot] === generation && p.epoch === epoch && resend(p, slot), RETRY_MS);
      } else {
        if (totals.failed++ < 3) console.error("sendFailed", m.reason);
        p.unacked[slot] = 0;
        p.undelivered[slot] = 0;
        p.inflight--;
      }
    },
    onClose: () => lost(p),
  };
}

/** One of the pair's connections is gone. */
function lost(p: SoakPair): void {
  if (p.down) return;
  if (!config.retry) {
    totals.closed++;
    return;
  }
  if (draining && p.inflight === 0) return;
  p.down = true;
  for (const c of [p.tx!, p.rx!]) {
    c.handlers = {};
    c.close();
  }
  void rejoin(p);
}

function withDeadline<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then((v) => (clearTimeout(t), resolve(v)), (e) => (clearTimeout(t), reject(e)));
  });
}

/** Both connections again on the first node that takes them, the pool sealed anew (same ids), the unACKed resent. */
async function rejoin(p: SoakPair): Promise<void> {
  const identity = { seed: new Uint8Array(Buffer.from(config.identity.seed, "hex")), publicKey: new Uint8Array(Buffer.from(config.identity.pub, "hex")) };
  const servers = config.servers ?? [{ host: config.host, port: config.port }];
  for (let attempt = 0; ; attempt++) {
    for (const s of servers) {
      let rx: BareClient | undefined;
      let tx: BareClient | undefined;
      try {
        rx = await BareClient.login({ host: s.host, port: s.port, user: p.recipient.user, login: loginKey(p.recipient) });
        tx = await BareClient.login({ host: s.host, port: s.port, user: p.sender.user, login: loginKey(p.sender) });
        const rxKey = await rx.publish(identity);
        const txKey = await tx.publish(identity);
        const key = await withDeadline(`the key of ${p.recipient.user}`, KEY_WAIT_MS, getKey(tx, p.recipient.user, rxKey.key.sessionPub));
        if (rx.closed || tx.closed) throw new Error("closed while joining");
        p.rx = rx;
        p.tx = tx;
        await sealPool(p, txKey.session, txKey.key, key, config.bodyBytes);
        p.down = false;
        p.epoch++;
        totals.rejoins++;
        wire(p);
        for (let slot = 0; slot < POOL; slot++) resend(p, slot);
        return;
      } catch {
        rx?.close();
        tx?.close();
      }
    }
    await Bun.sleep(Math.min(250 * 2 ** attempt, REJOIN_MAX_BACKOFF_MS));
  }
}

function report(t: string): Record<string, unknown> & { t: string } {
  const latenciesMs = period.values;
  period = new Reservoir(SAMPLES_PER_PERIOD);
  return { t, ...totals, inflight: inflight(), down: pairs.filter((p) => p.down).length, latenciesMs };
}

serve(async (m) => {
  if (m.t === "config") {
    config = m as unknown as SoakPairsConfig;
    rate = config.ratePerSecond;
    windowSize = config.window;
    pairs = (await setup(config)).map((p) => ({ ...p, unacked: new Uint8Array(POOL), undelivered: new Uint8Array(POOL), generation: new Uint32Array(POOL), epoch: 0, down: false }));
    for (const p of pairs) wire(p);
    toRunner({ t: "ready" });
  } else if (m.t === "go") {
    sending = true;
    started = performance.now();
    ticker = setInterval(tick, TICK_MS);
    beater = setInterval(() => {
      for (const p of pairs) if (!p.down) for (const c of [p.tx!, p.rx!]) c.post({ t: "heartbeat" });
    }, HEARTBEAT_MS);
  } else if (m.t === "sample") {
    toRunner(report("sample"));
  } else if (m.t === "drain") {
    sending = false;
    draining = true;
    clearInterval(ticker);
    const deadline = Date.now() + Number(m.timeoutMs ?? 30_000);
    while ((inflight() > 0 || pairs.some((p) => p.down)) && Date.now() < deadline) await Bun.sleep(20);
    clearInterval(beater);
    toRunner(report("drained"));
    for (const p of pairs) {
      p.down = true;
      p.tx!.handlers = {};
      p.rx!.handlers = {};
      p.tx!.close();
      p.rx!.close();
    }
  }
});
