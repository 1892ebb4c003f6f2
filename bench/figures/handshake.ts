// Figure 3: full logins per second at the relay, the Noise_XXhfs handshake plus the
// user check against its directory, driven by generator processes that connect, log in and
// close in a loop. Baseline: the same loops and record sizes against a plain TCP server in
// Bun, which is what connection churn alone costs here.

import { resolve } from "node:path";
import type { BenchContext } from "../lib/context.ts";
import { driveWorkers, type RateResult, type Window } from "../lib/drive.ts";
import { BUN, Child, freePort, waitForPort } from "../lib/procs.ts";
import { startRelayProcess } from "../lib/relay-process.ts";
import { row, type Row } from "../lib/row.ts";
import { makeUsers, registerUsers, type BenchUser } from "../lib/users.ts";

const CHURN = resolve(import.meta.dir, "../workers/login-churn.ts");
const TARGET = 5000;

interface Plan extends Window {
  workers: number;
  concurrency: number;
  users: number;
}

function plan(ctx: BenchContext): Plan {
  return ctx.quick
    ? { workers: 1, concurrency: 8, users: 20, warmupMs: 300, measureMs: 700 }
    : { workers: 2, concurrency: 16, users: 200, warmupMs: 1500, measureMs: 6000 };
}

function configs(p: Plan, mode: "smsg" | "tcp", port: number, users: BenchUser[]) {
  return Array.from({ length: p.workers }, (_, i) => ({
    t: "config",
    mode,
    host: "127.0.0.1",
    port,
    users: users.filter((_, j) => j % p.workers === i),
    concurrency: p.concurrency,
  }));
}

export async function tcpChurn(ctx: BenchContext): Promise<RateResult> {
  const p = plan(ctx);
  const port = freePort();
  const server = new Child("tcp handshake server", [BUN, resolve(import.meta.dir, "../servers/tcp-handshake.ts"), String(port)]);
  try {
    await waitForPort(port, server);
    return await driveWorkers("tcp churn", CHURN, configs(p, "tcp", port, []), p, server.pid);
  } finally {
    await server.stop();
  }
}

export async function smsgChurn(ctx: BenchContext): Promise<RateResult> {
  const p = plan(ctx);
  const data = ctx.dir("handshake");
  const users = makeUsers("h", p.users);
  registerUsers(data, users);
  const relay = await startRelayProcess({ dataDir: data, port: freePort() });
  try {
    return await driveWorkers("login churn", CHURN, configs(p, "smsg", relay.port, users), p, relay.child.pid);
  } finally {
    await relay.stop();
  }
}

export async function handshakeRows(ctx: BenchContext): Promise<Row[]> {
  const p = plan(ctx);
  ctx.log(`handshake: plain TCP churn, ${p.workers} x ${p.concurrency} loops`);
  const tcp = await tcpChurn(ctx);
  ctx.log(`handshake: smsg logins, ${p.workers} x ${p.concurrency} loops`);
  const sm = await smsgChurn(ctx);
  ctx.log(
    `handshake: tcp ${tcp.rate.toFixed(0)}/s (server CPU ${tcp.serverCpuUs.toFixed(1)} us each); ` +
      `smsg ${sm.rate.toFixed(0)}/s (relay CPU ${sm.serverCpuUs.toFixed(1)} us each, ${sm.serverUserUs.toFixed(1)} of it in user space, ` +
      `${sm.serverJitUs.toFixed(1)} in JIT compiler threads; generators ${sm.generatorCpuUs.toFixed(1)} us each, ${sm.generatorJitUs.toFixed(1)} in JIT; ` +
      `p50 ${sm.p50.toFixed(2)} ms, ${sm.failures} failed)`,
  );
  return [
    row({
      name: "handshake rate: full logins (Noise_XXhfs + directory check)",
      value: sm.rate,
      unit: "logins/s",
      baseline: { name: "plain TCP, same record sizes, no crypto", value: tcp.rate },
      target: { text: `>= ${TARGET.toLocaleString("en-US")} logins/s`, check: (v) => v >= TARGET },
    }),
    row({
      name: "handshake relay CPU per login",
      value: sm.serverCpuUs,
      unit: "us",
      baseline: { name: "plain TCP server CPU per connection", value: tcp.serverCpuUs },
    }),
  ];
}
