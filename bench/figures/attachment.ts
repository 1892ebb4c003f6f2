// Figure 4: a 1 GiB attachment from A to B end to end through a real relay and
// two real client daemons, sent with the CLI a person uses: read the file, encrypt it into
// A's store, seal it per STREAM chunk, relay it, open it at B and re-encrypt it into B's
// store, until A's outbox says delivered (B's ACK with its receipt). MB/s over the whole,
// and each process's peak memory (VmHWM). Baselines from the same run: AES-256-GCM
// natively on one core, and a plain loopback TCP copy of the same file to disk.

import { createCipheriv, createHash, randomFillSync } from "node:crypto";
import { closeSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Socket } from "bun";
import type { BenchContext } from "../lib/context.ts";
import { api, startClientProcess, type ClientProcess } from "../lib/client-process.ts";
import { BUN, Child, cpuSeconds, freePort, MAIN, memoryOf, minorFaults, PeakSampler } from "../lib/procs.ts";
import { startRelayProcess } from "../lib/relay-process.ts";
import { row, type Row } from "../lib/row.ts";
import { registerUsers, type BenchUser } from "../lib/users.ts";
import { waitFor } from "../../test/support/harness.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";
import { STREAM_CHUNK } from "../../src/protocol/stream.ts";

const TARGET_MBPS = 300;
const TARGET_PEAK_MB = 150;
const MB = 1e6;

/** A file of random bytes; returns its SHA-256. */
export function makeFile(path: string, size: number): string {
  const fd = openSync(path, "w", 0o600);
  const hash = createHash("sha256");
  const block = new Uint8Array(16 * 1024 * 1024);
  try {
    for (let left = size; left > 0; left -= block.length) {
      const b = block.subarray(0, Math.min(block.length, left));
      randomFillSync(b);
      hash.update(b);
      writeSync(fd, b);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** AES-256-GCM over size bytes in STREAM-sized chunks, one core, MB/s. */
export function aesRate(size: number): number {
  const key = randomFillSync(new Uint8Array(32));
  const chunk = randomFillSync(new Uint8Array(STREAM_CHUNK));
  const nonce = new Uint8Array(12);
  const start = performance.now();
  for (let done = 0, i = 0; done < size; done += chunk.length, i++) {
    nonce[11] = i & 0xff;
    const c = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
    c.update(chunk);
    c.final();
    c.getAuthTag();
  }
  return size / MB / ((performance.now() - start) / 1000);
}

/** The file over loopback TCP into a file on disk, fsynced, MB/s. */
export async function tcpCopyRate(ctx: BenchContext, file: string, size: number): Promise<number> {
  const out = join(ctx.dir("tcp-copy"), "copy");
  const port = freePort();
  const sink = new Child("tcp sink", [BUN, resolve(import.meta.dir, "../servers/tcp-sink.ts"), String(port), out, String(size)]);
  try {
    await sink.line(/^listening/);
    const start = performance.now();
    let drained: (() => void) | undefined;
    const sock = (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, drain: () => drained?.() } })) as Socket<unknown>;
    for await (const piece of Bun.file(file).stream()) {
      let off = 0;
      while (off < piece.length) {
        off += Math.max(0, sock.write(piece.subarray(off)));
        if (off < piece.length) await new Promise<void>((r) => (drained = r));
      }
    }
    await sink.line(/^done/, 300_000);
    const seconds = (performance.now() - start) / 1000;
    sock.end();
    return size / MB / seconds;
  } finally {
    await sink.stop();
    rmSync(out, { force: true });
  }
}

interface EndToEnd {
  mbps: number;
  uploadSeconds: number;
  transferSeconds: number;
  peakKiB: { relay: number; a: number; b: number; cli: number };
  idleKiB: { relay: number; a: number; b: number };
  /** From A's store to B's (the second leg): CPU microseconds and minor page faults per 60 KiB chunk. */
  perChunk: Record<"relay" | "a" | "b", { cpuUs: number; faults: number }>;
}

/** A user registered at the relay with a password-derived login key, and its client's folders. */
/** A client user's password file and data dir, the user registered in relayData's directory or by `register` (a cluster's). */
export async function clientUser(
  ctx: BenchContext,
  name: string,
  relayData: string,
  register?: (users: BenchUser[]) => Promise<void>,
): Promise<{ passwordFile: string; dataDir: string }> {
  const password = `bench password of ${name}`;
  const keys = await deriveUserKeys(name, password);
  const user = { user: name, secret: "", pub: Buffer.from(keys.login.publicKey).toString("hex") };
  if (register) await register([user]);
  else registerUsers(relayData, [user]);
  const dir = ctx.dir(`client-${name}`);
  const passwordFile = join(dir, "password");
  writeFileSync(passwordFile, password + "\n", { mode: 0o600 });
  return { passwordFile, dataDir: join(dir, "data") };
}

export async function connected(c: ClientProcess): Promise<void> {
  await waitFor(`${c.child.name} to connect`, async () => (await api<{ connected: boolean }>(c, "GET", "/api/status")).value.connected, 60_000, 50);
}

export async function endToEnd(ctx: BenchContext, file: string, size: number, sha256: string): Promise<EndToEnd> {
  const relayData = ctx.dir("attachment-relay");
  const ua = await clientUser(ctx, "a", relayData);
  const ub = await clientUser(ctx, "b", relayData);
  const relay = await startRelayProcess({ dataDir: relayData, port: freePort() });
  const clients: ClientProcess[] = [];
  try {
    const server = `127.0.0.1:${relay.port}`;
    const a = await startClientProcess({ user: "a", dataDir: ua.dataDir, server, passwordFile: ua.passwordFile, relayKey: relay.key });
    clients.push(a);
    const b = await startClientProcess({ user: "b", dataDir: ub.dataDir, server, passwordFile: ub.passwordFile, relayKey: relay.key });
    clients.push(b);
    await connected(a);
    await connected(b);
    const idle = { relay: memoryOf(relay.child.pid)!.rssKiB, a: memoryOf(a.child.pid)!.rssKiB, b: memoryOf(b.child.pid)!.rssKiB };
    const samplers = { relay: new PeakSampler(relay.child.pid), a: new PeakSampler(a.child.pid), b: new PeakSampler(b.child.pid) };

    const pids = { relay: relay.child.pid, a: a.child.pid, b: b.child.pid };
    const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)])) as Record<keyof typeof pids, number>;
    const faults = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, minorFaults(pid)])) as Record<keyof typeof pids, number>;
    const c0 = cpu();
    const f0 = faults();
    const t0 = performance.now();
    const send = new Child("send", [BUN, MAIN, "send", "--data", ua.dataDir, "--to", "b", "--subject", "attachment benchmark", "--body", `${size} bytes`, "--attach", file]);
    const cli = new PeakSampler(send.pid, 50);
    const code = await send.proc.exited;
    const cliPeak = cli.stop();
    if (code !== 0) throw new Error(`smsg send failed (${code}): ${send.tail()}`);
    const t1 = performance.now();
    const c1 = cpu();
    // Which leg makes the peak: the high-water marks as the upload ends.
    const hwm = (pid: number) => `${(((memoryOf(pid)?.hwmKiB ?? NaN) * 1024) / MB).toFixed(1)} MB`;
    ctx.log(`attachment: peak memory when the upload ended: relay ${hwm(pids.relay)}, a ${hwm(pids.a)}, b ${hwm(pids.b)}`);
    await waitFor(
      "A's outbox to show the attachment delivered",
      async () => (await api<{ flags: string }[]>(a, "GET", "/api/outbox?limit=1")).value[0]?.flags === "S",
      600_000,
      20,
    );
    const t2 = performance.now();
    const c2 = cpu();
    const f2 = faults();
    const chunks = Math.ceil(size / STREAM_CHUNK);
    const perChunk = Object.fromEntries(
      // From the send's start: since the upload and the transfer overlap (CLIENT.md §2.1), the
      // transfer's work is no longer all after the upload; A's figure includes its upload's.
      (Object.keys(pids) as (keyof typeof pids)[]).map((k) => [k, { cpuUs: ((c2[k] - c0[k]) * 1e6) / chunks, faults: (f2[k] - f0[k]) / chunks }]),
    ) as EndToEnd["perChunk"];
    ctx.log(`attachment: per 60 KiB chunk, upload and transfer: ${Object.entries(perChunk).map(([k, v]) => `${k} ${v.cpuUs.toFixed(0)} us CPU, ${v.faults.toFixed(1)} page faults`).join("; ")}`);
    const busy = (from: Record<string, number>, to: Record<string, number>, secs: number) =>
      Object.keys(pids).map((k) => `${k} ${(((to[k]! - from[k]!) / secs) * 100).toFixed(0)}%`).join(", ");
    ctx.log(`attachment: CPU busy during the upload: ${busy(c0, c1, (t1 - t0) / 1000)}; during the transfer: ${busy(c1, c2, (t2 - t1) / 1000)}`);
    const peakKiB = { relay: samplers.relay.stop(), a: samplers.a.stop(), b: samplers.b.stop(), cli: cliPeak };
    // A daemon's high-water mark includes its unlock (Argon2id takes 64 MiB): the resident set
    // polled every 100 ms from the upload's start on tells what the attachment itself took.
    const rss = (k: keyof typeof samplers) => `${((samplers[k].peakRssKiB * 1024) / MB).toFixed(1)} MB`;
    ctx.log(`attachment: largest resident set polled during upload and transfer: relay ${rss("relay")}, a ${rss("a")}, b ${rss("b")}`);

    // Not timed: B has exactly the file.
    const [m] = (await api<{ id: string; attachments: { size: number }[] }[]>(b, "GET", "/api/inbox?limit=1")).value;
    if (m?.attachments[0]?.size !== size) throw new Error(`B's inbox does not show the ${size}-byte attachment`);
    const res = await fetch(`${b.url}/api/messages/${m.id}/attachments/0`, { headers: { authorization: `Bearer ${b.token}` } });
    const hash = createHash("sha256");
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(piece);
    if (hash.digest("hex") !== sha256) throw new Error("the attachment B stored differs from the file A sent");

    return {
      mbps: size / MB / ((t2 - t0) / 1000),
      uploadSeconds: (t1 - t0) / 1000,
      transferSeconds: (t2 - t1) / 1000,
      peakKiB,
      idleKiB: idle,
      perChunk,
    };
  } finally {
    for (const c of clients) await c.stop();
    await relay.stop();
  }
}

export async function attachmentRows(ctx: BenchContext): Promise<Row[]> {
  const size = ctx.quick ? 16 * 2 ** 20 : 2 ** 30;
  const label = ctx.quick ? "16 MiB" : "1 GiB";
  const dir = ctx.dir("attachment");
  const file = join(dir, "attachment.bin");
  ctx.log(`attachment: writing a ${label} file of random bytes`);
  const sha256 = makeFile(file, size);
  ctx.log("attachment: AES-256-GCM baseline");
  const aes = aesRate(size);
  ctx.log("attachment: loopback TCP copy baseline");
  const tcp = await tcpCopyRate(ctx, file, size);
  ctx.log(`attachment: ${label} from A to B through a relay and two client daemons`);
  const e = await endToEnd(ctx, file, size, sha256);
  rmSync(file, { force: true });
  ctx.log(`attachment: upload into A's store ${e.uploadSeconds.toFixed(2)} s, then until delivered ${e.transferSeconds.toFixed(2)} s`);
  const what = `attachment ${label} A->B end to end (upload, encrypt, relay, decrypt, store)`;
  const rate = { text: `>= ${TARGET_MBPS} MB/s`, check: (v: number) => v >= TARGET_MBPS };
  const peak = { text: `< ${TARGET_PEAK_MB} MB`, check: (v: number) => v < TARGET_PEAK_MB };
  const mb = (kib: number) => (kib * 1024) / MB;
  return [
    row({ name: `${what} vs AES-256-GCM`, value: e.mbps, unit: "MB/s", baseline: { name: "native AES-256-GCM, one core", value: aes }, target: rate }),
    row({ name: `${what} vs TCP copy`, value: e.mbps, unit: "MB/s", baseline: { name: "plain loopback TCP copy to disk", value: tcp }, target: rate }),
    row({ name: `attachment ${label}: upload into A's store (smsg send until it returns)`, value: size / MB / e.uploadSeconds, unit: "MB/s", baseline: { name: "plain loopback TCP copy to disk", value: tcp } }),
    row({ name: `attachment ${label}: from the upload's end until delivered`, value: e.transferSeconds, unit: "s" }),
    row({ name: "attachment peak memory: relay", value: mb(e.peakKiB.relay), unit: "MB", baseline: { name: "its RSS before the transfer", value: mb(e.idleKiB.relay) }, target: peak }),
    row({ name: "attachment peak memory: client A (sender daemon)", value: mb(e.peakKiB.a), unit: "MB", baseline: { name: "its RSS before the transfer", value: mb(e.idleKiB.a) }, target: peak }),
    row({ name: "attachment peak memory: client B (recipient daemon)", value: mb(e.peakKiB.b), unit: "MB", baseline: { name: "its RSS before the transfer", value: mb(e.idleKiB.b) }, target: peak }),
    row({ name: "attachment peak memory: smsg send (the CLI uploading the file)", value: mb(e.peakKiB.cli), unit: "MB", target: peak }),
    ...(["a", "relay", "b"] as const).flatMap((k) => {
      const who = { a: "client A", relay: "relay", b: "client B" }[k];
      const aesUs = (STREAM_CHUNK / MB / aes) * 1e6;
      return [
        row({ name: `attachment CPU per 60 KiB chunk, upload and transfer: ${who}`, value: e.perChunk[k].cpuUs, unit: "us", baseline: { name: "AES-256-GCM of one chunk, one core", value: aesUs } }),
        row({ name: `attachment page faults per 60 KiB chunk, upload and transfer: ${who}`, value: e.perChunk[k].faults, unit: "faults", baseline: { name: "4 KiB pages in a chunk", value: STREAM_CHUNK / 4096 } }),
      ];
    }),
  ];
}
