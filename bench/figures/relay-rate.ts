// Figure 1: 1 KiB end-to-end encrypted messages between connected pairs through
// the relay, the load generators in separate processes; messages per second and p50/p99
// delivery latency, beside a plain TCP forwarder in Bun (the upper bound here) and
// mosquitto with TLS (the broker a user might pick instead), same payload, pairs, window.

import { resolve } from "node:path";
import type { BenchContext } from "../lib/context.ts";
import { driveWorkers, type RateResult } from "../lib/drive.ts";
import { BUN, Child, freePort, waitForPort } from "../lib/procs.ts";
import { startRelayProcess } from "../lib/relay-process.ts";
import { row, type Row } from "../lib/row.ts";
import { benchIdentity, makeUsers, registerUsers } from "../lib/users.ts";
import { startMosquitto } from "../servers/mosquitto.ts";

const WORKERS = resolve(import.meta.dir, "../workers");
/** The relay's per-session limit on open transfers (SPEC.md §6.5): a sender's window. */
const WINDOW = 8;
const PAYLOAD = 1024;

interface Plan {
  pairs: number;
  workers: number;
  warmupMs: number;
  measureMs: number;
  /** Rounds of all three in turn; each system's median round is reported. */
  rounds: number;
}

function plan(ctx: BenchContext): Plan {
  return ctx.quick
    ? { pairs: 4, workers: 2, warmupMs: 300, measureMs: 700, rounds: 1 }
    : { pairs: 50, workers: 2, warmupMs: 1500, measureMs: 5000, rounds: 3 };
}

/** The median of each round's server CPU per message (a round's CPU and rate move apart). */
function medianCpu(rounds: RateResult[]): number {
  const v = rounds.map((r) => r.serverCpuUs).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
}

/** The round with the median rate (its latencies with it). */
function median<R extends RateResult>(rounds: R[]): R {
  return [...rounds].sort((a, b) => a.rate - b.rate)[Math.floor(rounds.length / 2)]!;
}

/** Split n pairs over w workers: [first, count] each. */
function split(n: number, w: number): [number, number][] {
  const out: [number, number][] = [];
  let first = 0;
  for (let i = 0; i < w; i++) {
    const count = Math.floor(n / w) + (i < n % w ? 1 : 0);
    out.push([first, count]);
    first += count;
  }
  return out;
}

export async function forwarderRate(ctx: BenchContext): Promise<RateResult> {
  const p = plan(ctx);
  const port = freePort();
  const fwd = new Child("tcp forwarder", [BUN, resolve(import.meta.dir, "../servers/tcp-forwarder.ts"), String(port)]);
  try {
    await waitForPort(port, fwd);
    const configs = split(p.pairs, p.workers).map(([first, pairs]) => ({ t: "config", host: "127.0.0.1", port, first, pairs, payloadBytes: PAYLOAD, window: WINDOW }));
    return await driveWorkers("tcp", resolve(WORKERS, "pairs-tcp.ts"), configs, p, fwd.pid);
  } finally {
    await fwd.stop();
  }
}

export async function mosquittoRate(ctx: BenchContext): Promise<RateResult & { version: string }> {
  const p = plan(ctx);
  const broker = await startMosquitto(ctx.dir("mosquitto"), freePort());
  try {
    const configs = split(p.pairs, p.workers).map(([first, pairs]) => ({
      t: "config",
      url: broker.url,
      caFile: broker.caFile,
      first,
      pairs,
      payloadBytes: PAYLOAD,
      window: WINDOW,
    }));
    return { ...(await driveWorkers("mqtt", resolve(WORKERS, "pairs-mqtt.ts"), configs, p, broker.child.pid)), version: broker.version };
  } finally {
    await broker.stop();
  }
}

export async function smsgRate(ctx: BenchContext): Promise<RateResult> {
  const p = plan(ctx);
  const data = ctx.dir("relay-rate");
  const senders = makeUsers("s", p.pairs);
  const recipients = makeUsers("r", p.pairs);
  registerUsers(data, [...senders, ...recipients]);
  const relay = await startRelayProcess({ dataDir: data, port: freePort() });
  try {
    const identity = benchIdentity();
    const configs = split(p.pairs, p.workers).map(([first, n]) => ({
      t: "config",
      host: "127.0.0.1",
      port: relay.port,
      pairs: senders.slice(first, first + n).map((s, i) => ({ sender: s, recipient: recipients[first + i]! })),
      identity,
      bodyBytes: PAYLOAD,
      window: WINDOW,
    }));
    return await driveWorkers("smsg", resolve(WORKERS, "pairs-smsg.ts"), configs, p, relay.child.pid);
  } finally {
    await relay.stop();
  }
}

export async function relayRateRows(ctx: BenchContext): Promise<{ rows: Row[]; relayRate: number }> {
  const p = plan(ctx);
  // The three take turns, round after round, so that a stretch of load from elsewhere on
  // this shared machine falls on one round of each rather than on one system's only run.
  const fwds: RateResult[] = [];
  const mqs: (RateResult & { version: string })[] = [];
  const sms: RateResult[] = [];
  const cpu = (r: RateResult) =>
    `${r.rate.toFixed(0)} msg/s, server CPU ${r.serverCpuUs.toFixed(1)} us/msg (${r.serverUserUs.toFixed(1)} of it in user space), generators ${r.generatorCpuUs.toFixed(1)} us/msg`;
  for (let round = 1; round <= p.rounds; round++) {
    ctx.log(`relay rate, round ${round} of ${p.rounds}: forwarder, mosquitto, smsg relay, ${p.pairs} pairs each`);
    fwds.push(await forwarderRate(ctx));
    mqs.push(await mosquittoRate(ctx));
    sms.push(await smsgRate(ctx));
    ctx.log(`relay rate, round ${round}: forwarder ${cpu(fwds.at(-1)!)}; mosquitto ${cpu(mqs.at(-1)!)}; smsg relay ${cpu(sms.at(-1)!)}`);
  }
  const fwd = median(fwds);
  const mq = median(mqs);
  const sm = median(sms);
  const failures = sms.reduce((n, r) => n + r.failures, 0);
  if (failures > 0) ctx.log(`relay rate: ${failures} SEND_FAILED answers during the runs`);
  const what = `relay message rate (1 KiB e2e-sealed, ${p.pairs} pairs, ${WINDOW} in flight each, median of ${p.rounds} rounds)`;
  const mqName = `mosquitto ${mq.version} TLS, QoS 0 + reply ack`;
  const fwdName = "plain TCP forwarder in Bun";
  const rows = [
    row({
      name: `${what} vs mosquitto`,
      value: sm.rate,
      unit: "msg/s",
      baseline: { name: mqName, value: mq.rate },
      target: { text: ">= mosquitto (ratio >= 1)", check: (_v, r) => r !== null && r >= 1 },
    }),
    row({
      name: `${what} vs forwarder`,
      value: sm.rate,
      unit: "msg/s",
      baseline: { name: fwdName, value: fwd.rate },
      target: { text: ">= half the forwarder (ratio >= 0.5)", check: (_v, r) => r !== null && r >= 0.5 },
    }),
    // Server CPU per message: steadier than rates on a shared machine, and what the relay's
    // own cost is judged by (issue 15), beside what the forwarder and mosquitto spend.
    row({ name: "server CPU per message: plain TCP forwarder in Bun", value: medianCpu(fwds), unit: "us/msg" }),
    row({ name: `server CPU per message: mosquitto ${mq.version} TLS`, value: medianCpu(mqs), unit: "us/msg" }),
    row({
      name: `relay CPU per message (median of ${p.rounds} rounds) vs forwarder`,
      value: medianCpu(sms),
      unit: "us/msg",
      baseline: { name: `${fwdName}, server CPU per message`, value: medianCpu(fwds) },
      target: { text: "<= 2x the forwarder's (ratio <= 2)", check: (_v, r) => r !== null && r <= 2 },
    }),
    row({
      name: `relay CPU per message (median of ${p.rounds} rounds) vs mosquitto`,
      value: medianCpu(sms),
      unit: "us/msg",
      baseline: { name: `${mqName}, server CPU per message`, value: medianCpu(mqs) },
      target: { text: "<= a quarter of mosquitto's (ratio <= 0.25)", check: (_v, r) => r !== null && r <= 0.25 },
    }),
    row({ name: "relay delivery latency p50 vs mosquitto", value: sm.p50, unit: "ms", baseline: { name: mqName, value: mq.p50 } }),
    row({ name: "relay delivery latency p99 vs mosquitto", value: sm.p99, unit: "ms", baseline: { name: mqName, value: mq.p99 } }),
    row({ name: "relay delivery latency p50 vs forwarder", value: sm.p50, unit: "ms", baseline: { name: fwdName, value: fwd.p50 } }),
    row({ name: "relay delivery latency p99 vs forwarder", value: sm.p99, unit: "ms", baseline: { name: fwdName, value: fwd.p99 } }),
  ];
  return { rows, relayRate: sm.rate };
}
