// Figure "attachment over a long path" (SPEC.md §6.3 "The window"): A's daemon reaches a real
// relay through a proxy that delays each direction by 150 ms and limits it to 20 MB/s
// (bench/lib/slow-path.ts); B's daemon is next to the relay. An attachment is sent with the
// CLI and timed at the proxy, from its first 256 KiB through to its last byte; the baseline is
// plain TCP through the same kind of proxy, timed the same way, in the same run.

import { randomFillSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "../lib/context.ts";
import { api, startClientProcess, type ClientProcess } from "../lib/client-process.ts";
import { BUN, Child, freePort, MAIN } from "../lib/procs.ts";
import { startRelayProcess } from "../lib/relay-process.ts";
import { row, type Row } from "../lib/row.ts";
import { registerUsers } from "../lib/users.ts";
import { pathRate, plainTcpRate } from "../lib/path-baseline.ts";
import { startSlowPath } from "../lib/slow-path.ts";
import { waitFor } from "../../test/support/harness.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";

/** Issue 15: at least half of what plain TCP gets on the same path. */
const TARGET_SHARE = 0.5;
const MB = 1e6;

async function user(ctx: BenchContext, name: string, relayData: string): Promise<{ passwordFile: string; dataDir: string }> {
  const password = `bench password of ${name}`;
  const keys = await deriveUserKeys(name, password);
  registerUsers(relayData, [{ user: name, secret: "", pub: Buffer.from(keys.login.publicKey).toString("hex") }]);
  const dir = ctx.dir(`long-path-${name}`);
  const passwordFile = join(dir, "password");
  writeFileSync(passwordFile, password + "\n", { mode: 0o600 });
  return { passwordFile, dataDir: join(dir, "data") };
}

async function connected(c: ClientProcess): Promise<void> {
  await waitFor(`${c.child.name} to connect`, async () => (await api<{ connected: boolean }>(c, "GET", "/api/status")).value.connected, 60_000, 50);
}

/** The attachment's rate through the path, bytes/s. */
async function smsgRate(ctx: BenchContext, path: { delayMs: number; bytesPerSecond: number }, size: number): Promise<number> {
  const relayData = ctx.dir("long-path-relay");
  const ua = await user(ctx, "a", relayData);
  const ub = await user(ctx, "b", relayData);
  const relay = await startRelayProcess({ dataDir: relayData, port: freePort() });
  const proxy = startSlowPath({ ...path, target: { host: "127.0.0.1", port: relay.port } });
  const clients: ClientProcess[] = [];
  try {
    const a = await startClientProcess({ user: "a", dataDir: ua.dataDir, server: `127.0.0.1:${proxy.port}`, passwordFile: ua.passwordFile, relayKey: relay.key });
    clients.push(a);
    const b = await startClientProcess({ user: "b", dataDir: ub.dataDir, server: `127.0.0.1:${relay.port}`, passwordFile: ub.passwordFile, relayKey: relay.key });
    clients.push(b);
    await connected(a);
    await connected(b);
    const file = join(ctx.dir("long-path"), "attachment.bin");
    writeFileSync(file, randomFillSync(new Uint8Array(size)));
    const rate = pathRate(proxy, proxy.delivered.up, size);
    const send = new Child("send", [BUN, MAIN, "send", "--data", ua.dataDir, "--to", "b", "--subject", "long path", "--body", `${size} bytes`, "--attach", file]);
    if ((await send.proc.exited) !== 0) throw new Error(`smsg send failed: ${send.tail()}`);
    const r = await rate;
    await waitFor("A's outbox to show it delivered", async () => (await api<{ flags: string }[]>(a, "GET", "/api/outbox?limit=1")).value[0]?.flags === "S", 300_000, 50);
    return r;
  } finally {
    for (const c of clients) await c.stop();
    await relay.stop();
    proxy.stop();
  }
}

export async function longPathRows(ctx: BenchContext): Promise<Row[]> {
  const size = ctx.quick ? 8 * 2 ** 20 : 60 * 2 ** 20;
  const label = ctx.quick ? "8 MiB" : "60 MiB";
  const path = ctx.quick ? { delayMs: 50, bytesPerSecond: 20e6 } : { delayMs: 150, bytesPerSecond: 20e6 };
  const pathText = `${path.delayMs * 2} ms round trip, ${path.bytesPerSecond / MB} MB/s`;
  ctx.log(`long path: plain TCP, ${label} over ${pathText}`);
  const tcp = await plainTcpRate(path, size);
  ctx.log(`long path: smsg, ${label} from A (behind the path) to B`);
  const smsg = await smsgRate(ctx, path, size);
  return [
    row({
      name: `attachment ${label} over a long path (${pathText}), A behind the path`,
      value: smsg / MB,
      unit: "MB/s",
      baseline: { name: "plain TCP through the same proxy", value: tcp / MB },
      target: { text: `>= ${TARGET_SHARE}x plain TCP`, check: (_v, ratio) => ratio !== null && ratio >= TARGET_SHARE },
    }),
  ];
}
