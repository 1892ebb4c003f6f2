// Figure 2: 10,000 authenticated clients holding connections with heartbeats.
// Relay memory per connection is the growth of its resident set over its own idle
// baseline, divided by the connections; the baseline is the same growth for a plain Bun
// TCP server holding as many idle sockets. Then the relay is restarted (SIGTERM, a new
// process on the same port) and the time until every client is logged in again is taken,
// the clients coming back with the real client's backoff.

import { resolve } from "node:path";
import type { BenchContext } from "../lib/context.ts";
import { BUN, Child, freePort, settledRss, waitForPort } from "../lib/procs.ts";
import { startRelayProcess } from "../lib/relay-process.ts";
import { row, type Row } from "../lib/row.ts";
import { benchIdentity, makeUsers, registerUsers } from "../lib/users.ts";
import { allReady, Worker, type WorkerMessage } from "../lib/worker.ts";

const HOLDER = resolve(import.meta.dir, "../workers/conn-holder.ts");
const FILE_LIMIT = 65_536;
/** KiB of relay memory per idle connection. */
const TARGET_KIB = 10;

interface Plan {
  clients: number;
  workers: number;
  concurrency: number;
}

function plan(ctx: BenchContext): Plan {
  return ctx.quick ? { clients: 200, workers: 2, concurrency: 20 } : { clients: 10_000, workers: 4, concurrency: 50 };
}

type AllIn = WorkerMessage & { phase: number; at: number };

function holders(p: Plan): Worker[] {
  return Array.from({ length: p.workers }, (_, i) => new Worker(`connection holder ${i}`, HOLDER, { fileLimit: FILE_LIMIT }));
}

/** Wait for every worker's all-in message of the given phase; the latest time. */
async function allIn(workers: Worker[], phase: number, timeoutMs: number): Promise<number> {
  let latest = 0;
  for (const w of workers) {
    for (;;) {
      const m = await w.next<AllIn>("all-in", timeoutMs);
      if (m.phase === phase) {
        latest = Math.max(latest, m.at);
        break;
      }
    }
  }
  return latest;
}

async function stopAll(workers: Worker[]): Promise<void> {
  for (const w of workers) w.send({ t: "stop" });
  await Promise.all(workers.map((w) => w.next("stopped", 30_000).catch(() => undefined)));
  await Promise.all(workers.map((w) => w.stop()));
}

/** KiB per idle plain connection held by a Bun TCP server. */
export async function plainPerConnection(ctx: BenchContext): Promise<{ perConnKiB: number; idleKiB: number }> {
  const p = plan(ctx);
  const port = freePort();
  const server = new Child("idle tcp server", [BUN, resolve(import.meta.dir, "../servers/tcp-forwarder.ts"), String(port)]);
  const workers = holders(p);
  try {
    await waitForPort(port, server);
    const idle = await settledRss(server.pid);
    const each = Math.ceil(p.clients / p.workers);
    await allReady(
      workers,
      workers.map((_, i) => ({
        t: "config",
        mode: "tcp",
        host: "127.0.0.1",
        port,
        users: [],
        count: Math.min(each, p.clients - i * each),
        identity: { seed: "", pub: "" },
        concurrency: p.concurrency,
        heartbeatMs: 10_000,
        maxBackoffMs: 30_000,
        keysAhead: 0,
      })),
    );
    for (const w of workers) w.send({ t: "go" });
    await allIn(workers, 1, 120_000);
    const held = await settledRss(server.pid);
    return { perConnKiB: (held - idle) / p.clients, idleKiB: idle };
  } finally {
    await stopAll(workers);
    await server.stop();
  }
}

export interface SmsgConnections {
  idleKiB: number;
  heldKiB: number;
  perConnKiB: number;
  fillSeconds: number;
  reloginSeconds: number;
}

export async function smsgConnections(ctx: BenchContext): Promise<SmsgConnections> {
  const p = plan(ctx);
  const data = ctx.dir("connections");
  const users = makeUsers("c", p.clients);
  registerUsers(data, users);
  const port = freePort();
  let relay = await startRelayProcess({ dataDir: data, port, fileLimit: FILE_LIMIT });
  const workers = holders(p);
  try {
    const idle = await settledRss(relay.child.pid);
    const identity = benchIdentity();
    const each = Math.ceil(p.clients / p.workers);
    await allReady(
      workers,
      workers.map((_, i) => ({
        t: "config",
        mode: "smsg",
        host: "127.0.0.1",
        port,
        users: users.slice(i * each, (i + 1) * each),
        count: 0,
        identity,
        concurrency: p.concurrency,
        heartbeatMs: 10_000,
        maxBackoffMs: 30_000,
        keysAhead: 2,
      })),
      300_000,
    );
    ctx.log(`connections: ${p.clients} clients logging in`);
    const go = Date.now();
    for (const w of workers) w.send({ t: "go" });
    const filled = await allIn(workers, 1, 300_000);
    const held = await settledRss(relay.child.pid, 1000, 15_000);
    ctx.log(`connections: all in; relay RSS ${(idle / 1024).toFixed(1)} MiB idle, ${(held / 1024).toFixed(1)} MiB with ${p.clients}; restarting the relay`);
    await relay.stop();
    relay = await startRelayProcess({ dataDir: data, port, fileLimit: FILE_LIMIT });
    const listening = Date.now();
    const back = await allIn(workers, 2, 300_000);
    return {
      idleKiB: idle,
      heldKiB: held,
      perConnKiB: (held - idle) / p.clients,
      fillSeconds: (filled - go) / 1000,
      reloginSeconds: (back - listening) / 1000,
    };
  } finally {
    await stopAll(workers);
    await relay.stop();
  }
}

export async function connectionsRows(ctx: BenchContext): Promise<Row[]> {
  const p = plan(ctx);
  ctx.log(`connections: ${p.clients} idle plain TCP connections to a Bun server`);
  const plain = await plainPerConnection(ctx);
  const sm = await smsgConnections(ctx);
  const n = p.clients.toLocaleString("en-US");
  return [
    row({
      name: `connections: relay memory per idle authenticated connection (${n} clients, heartbeats)`,
      value: sm.perConnKiB,
      unit: "KiB",
      baseline: { name: "Bun TCP server, per idle plain connection", value: plain.perConnKiB },
      target: { text: `<= ${TARGET_KIB} KiB`, check: (v) => v <= TARGET_KIB },
    }),
    row({
      name: `connections: relay resident memory with ${n} clients`,
      value: sm.heldKiB / 1024,
      unit: "MiB",
      baseline: { name: "the same relay idle, no connections", value: sm.idleKiB / 1024 },
    }),
    row({
      name: `connections: all ${n} logged in again after a relay restart`,
      value: sm.reloginSeconds,
      unit: "s",
      baseline: { name: `first login of all ${n}, ${p.workers * p.concurrency} at a time`, value: sm.fillSeconds },
    }),
  ];
}
