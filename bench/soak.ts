// `npm run soak` (issue 16): one relay under a steady load for --minutes: idle authenticated
// connections with heartbeats, some replaced every minute, pairs sending sealed 1 KiB
// messages at a fixed total rate, and a 50 MB attachment between two real client daemons
// every few minutes. Every 10 s a CSV row: the relay's RSS (and its low point since the last
// row), its JS heap (asked over the benchmark relay's side channel), CPU, open file
// descriptors, delivery counters. At the end: messages sent/delivered/failed, latency, the
// slope of the per-minute RSS low point over the last two thirds of the run (least
// squares, with R²), and the relay's RSS once every client has left; an SVG plot beside
// the CSV. Exits 1 if anything was lost or failed. See bench/README.md, "Soak".

import { Command, InvalidArgumentError } from "commander";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { clientUser, connected, makeFile } from "./figures/attachment.ts";
import { api, startClientProcess, type ClientProcess } from "./lib/client-process.ts";
import { BenchContext } from "./lib/context.ts";
import { fitLine } from "./lib/fit.ts";
import { describeMachine, machineLine } from "./lib/machine.ts";
import { BUN, Child, cpuSeconds, freePort, MAIN, memoryOf } from "./lib/procs.ts";
import { startRelayProcess } from "./lib/relay-process.ts";
import { percentile } from "./lib/stats.ts";
import { svgPlot } from "./lib/svg-plot.ts";
import { benchIdentity, makeUsers, registerUsers } from "./lib/users.ts";
import { allReady, Worker, type WorkerMessage } from "./lib/worker.ts";

const WORKERS = resolve(import.meta.dir, "workers");
const FILE_LIMIT = 65_536;
const PAIRS = 50;
const PAIR_WORKERS = 2;
const HOLDER_WORKERS = 2;
const PAYLOAD = 1024;
const WINDOW = 8; // the relay's per-session limit on open transfers (SPEC.md §6.5)
const ATTACHMENT_BYTES = 50_000_000;
const SAMPLE_MS = 10_000;
const MIB = 1024 * 1024;

// --- arguments -------------------------------------------------------------------------

function num(min: number, integer = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`expected ${integer ? "an integer" : "a number"} >= ${min}`);
    }
    return n;
  };
}

function envPair(v: string, prev: Record<string, string>): Record<string, string> {
  const i = v.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError("expected NAME=VALUE");
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}

const opts = new Command("soak")
  .description("a relay under steady load for a while: memory, CPU, descriptors, deliveries (bench/README.md, Soak)")
  .option("--minutes <n>", "how long the load runs", num(0.1), 10)
  .option("--rate <n>", "messages per second, all pairs together", num(1, true), 1000)
  .option("--idle <n>", "idle authenticated connections with heartbeats", num(0, true), 2000)
  .option("--churn <n>", "idle connections replaced per minute", num(0, true), 200)
  .option("--attachment-every <minutes>", "minutes between 50 MB attachments between two client daemons (0: none)", num(0), 5)
  .option("--out <dir>", "where the CSV, the plot and the relay's memory maps go (default: a new folder in the temp dir)")
  .option("--relay-env <NAME=VALUE>", "extra environment for the relay, e.g. an allocator setting (repeatable)", envPair, {})
  .option("--settle-deadline <s>", "longest wait for the relay's RSS to settle after the clients left", num(10), 120)
  .parse()
  .opts<{ minutes: number; rate: number; idle: number; churn: number; attachmentEvery: number; out?: string; relayEnv: Record<string, string>; settleDeadline: number }>();

const out = opts.out ? resolve(opts.out) : mkdtempSync(join(tmpdir(), "smsg-soak-"));
mkdirSync(out, { recursive: true });
const ctx = new BenchContext(false);

// --- what is read from /proc -------------------------------------------------------------

function statusKiB(pid: number): Record<string, number> {
  const r: Record<string, number> = {};
  try {
    for (const m of readFileSync(`/proc/${pid}/status`, "utf8").matchAll(/^(VmRSS|RssAnon|RssFile|RssShmem):\s*(\d+) kB/gm)) r[m[1]!] = Number(m[2]);
  } catch {
    // gone
  }
  return r;
}

function fds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** The relay's allocator statistics (mimalloc's, printed on its stderr), as lines. */
async function allocatorDump(): Promise<string[]> {
  const from = relay.child.count;
  await new Promise<void>((done) => {
    const t = setTimeout(done, 5000);
    dumpWaiter = () => (clearTimeout(t), (dumpWaiter = undefined), done());
    relay.child.send({ t: "mimalloc" });
  });
  // stderr and the IPC answer travel apart: wait for the dump's last section.
  for (let i = 0; i < 50 && !relay.child.lines.slice(-(relay.child.count - from)).some((l) => /^\s*process\s*:/.test(l)); i++) await Bun.sleep(20);
  const n = Math.min(relay.child.count - from, relay.child.lines.length);
  return n > 0 ? relay.child.lines.slice(-n) : [];
}

const UNIT: Record<string, number> = { B: 1, Ki: 1024, KiB: 1024, Mi: MIB, MiB: MIB, Gi: 1024 * MIB, GiB: 1024 * MIB };

/** From a dump: bytes malloc'ed and not freed ("total", current) and committed by its arenas. */
function allocatorFigures(lines: string[]): { liveMiB: number; committedMiB: number } {
  const current = (label: string): number => {
    const l = lines.find((x) => new RegExp(`^\\s*${label}\\s*:`).test(x));
    const vals = [...(l?.matchAll(/(-?[\d.]+)\s*(B|Ki|KiB|Mi|MiB|Gi|GiB)?\b/g) ?? [])];
    const v = vals[2]; // peak, total, current
    return v ? (Number(v[1]) * (UNIT[v[2] ?? "B"] ?? 1)) / MIB : NaN;
  };
  return { liveMiB: current("total"), committedMiB: current("committed") };
}

/** The relay's memory maps and its allocator's statistics, into out. */
async function saveMaps(pid: number, tag: string): Promise<void> {
  writeFileSync(join(out, `${tag}.mimalloc.txt`), (await allocatorDump()).join("\n") + "\n");
  for (const f of ["smaps_rollup", "smaps"]) {
    try {
      writeFileSync(join(out, `${tag}.${f}`), readFileSync(`/proc/${pid}/${f}`));
    } catch {
      // not Linux, or gone
    }
  }
}

// --- the relay and its side channel ------------------------------------------------------

interface HeapStats {
  heapSize: number;
  heapCapacity: number;
  extraMemorySize: number;
  objectCount: number;
  external: number;
  arrayBuffers: number;
  objectTypeCounts?: Record<string, number>;
}

let statsWaiter: ((s: HeapStats) => void) | undefined;
let dumpWaiter: (() => void) | undefined;
let gcWaiter: (() => void) | undefined;
const relayData = ctx.dir("relay");
const relay = await startRelayProcess({
  dataDir: relayData,
  port: freePort(),
  fileLimit: FILE_LIMIT,
  env: { SMSG_BENCH_STATS: "1", ...opts.relayEnv },
  ipc: (m) => {
    if ((m as WorkerMessage).t === "stats") statsWaiter?.(m as HeapStats);
    if ((m as WorkerMessage).t === "mimalloc") dumpWaiter?.();
    if ((m as WorkerMessage).t === "gc") gcWaiter?.();
  },
});
const pid = relay.child.pid;

function relayHeap(types = false): Promise<HeapStats | undefined> {
  return new Promise((done) => {
    const t = setTimeout(() => ((statsWaiter = undefined), done(undefined)), 5000);
    statsWaiter = (s) => (clearTimeout(t), (statsWaiter = undefined), done(s));
    relay.child.send({ t: "stats", types });
  });
}

/** A full garbage collection in the relay: what is left afterwards is held, not garbage. */
function relayGc(): Promise<void> {
  return new Promise((done) => {
    const t = setTimeout(done, 30_000);
    gcWaiter = () => (clearTimeout(t), (gcWaiter = undefined), done());
    relay.child.send({ t: "gc" });
  });
}

/** The object types whose count grew most between two heap readings, as lines. */
function objectGrowth(a: HeapStats | undefined, b: HeapStats | undefined): string[] {
  const x = a?.objectTypeCounts ?? {};
  const y = b?.objectTypeCounts ?? {};
  return Object.keys({ ...x, ...y })
    .map((k) => [k, (y[k] ?? 0) - (x[k] ?? 0), x[k] ?? 0, y[k] ?? 0] as const)
    .sort((p, q) => q[1] - p[1])
    .map(([k, d, n0, n1]) => `${k}: ${n0} -> ${n1} (${d >= 0 ? "+" : ""}${d})`);
}

/** RSS once the relay is left alone: at least minMs, then until 5 s apart within 0.25 MiB. */
async function settled(minMs: number, deadlineMs: number): Promise<{ kib: number; settled: boolean }> {
  const deadline = Date.now() + deadlineMs;
  await Bun.sleep(minMs);
  let last = memoryOf(pid)?.rssKiB ?? NaN;
  while (Date.now() < deadline) {
    await Bun.sleep(5000);
    const now = memoryOf(pid)?.rssKiB ?? NaN;
    if (Math.abs(now - last) <= 256) return { kib: now, settled: true };
    last = now;
  }
  return { kib: last, settled: false };
}

// --- the load ----------------------------------------------------------------------------

const workers: Worker[] = [];
const holders: Worker[] = [];
const pairWorkers: Worker[] = [];
const clients: ClientProcess[] = [];
let exitCode = 1;

function split(n: number, w: number): number[] {
  return Array.from({ length: w }, (_, i) => Math.floor(n / w) + (i < n % w ? 1 : 0));
}

async function startHolders(): Promise<void> {
  if (opts.idle === 0) return;
  const users = makeUsers("i", opts.idle);
  registerUsers(relayData, users);
  const identity = benchIdentity();
  // One session key per expected login (the last is used again after that).
  const keysAhead = Math.min(8, 2 + Math.ceil((opts.churn * opts.minutes) / opts.idle));
  let first = 0;
  for (const [i, n] of split(opts.idle, HOLDER_WORKERS).entries()) {
    if (n === 0) continue;
    const w = new Worker(`idle holder ${i}`, join(WORKERS, "conn-holder.ts"), { fileLimit: FILE_LIMIT });
    holders.push(w);
    workers.push(w);
    const config = { t: "config", mode: "smsg", host: "127.0.0.1", port: relay.port, users: users.slice(first, first + n), count: 0, identity, concurrency: 50, heartbeatMs: 10_000, maxBackoffMs: 30_000, keysAhead };
    first += n;
    w.send(config);
  }
  await Promise.all(holders.map((w) => w.next("ready", 300_000)));
  for (const w of holders) w.send({ t: "go" });
  await Promise.all(holders.map((w) => w.next("all-in", 300_000)));
}

async function startPairs(): Promise<void> {
  const senders = makeUsers("s", PAIRS);
  const recipients = makeUsers("r", PAIRS);
  registerUsers(relayData, [...senders, ...recipients]);
  const identity = benchIdentity();
  const rates = split(opts.rate, PAIR_WORKERS);
  let first = 0;
  const configs: WorkerMessage[] = split(PAIRS, PAIR_WORKERS).map((n, i) => {
    const c = {
      t: "config",
      host: "127.0.0.1",
      port: relay.port,
      pairs: senders.slice(first, first + n).map((s, j) => ({ sender: s, recipient: recipients[first + j]! })),
      identity,
      bodyBytes: PAYLOAD,
      window: WINDOW,
      ratePerSecond: rates[i]!,
    };
    first += n;
    return c;
  });
  for (let i = 0; i < PAIR_WORKERS; i++) pairWorkers.push(new Worker(`pairs ${i}`, join(WORKERS, "soak-pairs.ts")));
  workers.push(...pairWorkers);
  await allReady(pairWorkers, configs);
}

interface Attach {
  a: ClientProcess;
  b: ClientProcess;
  aData: string;
  ok: number;
  failed: number;
  running?: Promise<void>;
}

async function startAttachments(): Promise<Attach | undefined> {
  if (opts.attachmentEvery === 0) return undefined;
  const ua = await clientUser(ctx, "a", relayData);
  const ub = await clientUser(ctx, "b", relayData);
  const server = `127.0.0.1:${relay.port}`;
  const a = await startClientProcess({ user: "a", dataDir: ua.dataDir, server, passwordFile: ua.passwordFile, relayKey: relay.key });
  clients.push(a);
  const b = await startClientProcess({ user: "b", dataDir: ub.dataDir, server, passwordFile: ub.passwordFile, relayKey: relay.key });
  clients.push(b);
  await connected(a);
  await connected(b);
  return { a, b, aData: ua.dataDir, ok: 0, failed: 0 };
}

/** One 50 MB attachment from A to B with the CLI; true when B has exactly the file. */
async function sendAttachment(at: Attach, n: number): Promise<void> {
  const dir = ctx.dir(`attachment-${n}`);
  const file = join(dir, "attachment.bin");
  try {
    const sha256 = makeFile(file, ATTACHMENT_BYTES);
    const subject = `soak attachment ${n}`;
    const send = new Child("send", [BUN, MAIN, "send", "--data", at.aData, "--to", "b", "--subject", subject, "--body", "soak", "--attach", file]);
    const code = await send.proc.exited;
    if (code !== 0) throw new Error(`smsg send exited ${code}: ${send.tail()}`);
    const deadline = Date.now() + 300_000;
    type Row = { id: string; subject: string; flags: string; attachments: { size: number }[] };
    for (;;) {
      const [m] = (await api<Row[]>(at.a, "GET", "/api/outbox?limit=1")).value;
      if (m?.subject === subject && m.flags === "S") break;
      if (Date.now() > deadline) throw new Error(`${subject} not delivered within 300 s`);
      await Bun.sleep(200);
    }
    const [m] = (await api<Row[]>(at.b, "GET", "/api/inbox?limit=1")).value;
    if (m?.subject !== subject || m.attachments[0]?.size !== ATTACHMENT_BYTES) throw new Error(`B's inbox does not show ${subject}`);
    const res = await fetch(`${at.b.url}/api/messages/${m.id}/attachments/0`, { headers: { authorization: `Bearer ${at.b.token}` } });
    const hash = createHash("sha256");
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(piece);
    if (hash.digest("hex") !== sha256) throw new Error(`the copy of ${subject} at B differs from the file A sent`);
    at.ok++;
  } catch (e) {
    at.failed++;
    ctx.log(`attachment ${n} FAILED: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface PairTotals {
  sent: number;
  delivered: number;
  failed: number;
  closed: number;
  inflight: number;
  latenciesMs: number[];
}

async function pairTotals(t: "sample" | "drain", timeoutMs = 30_000): Promise<PairTotals> {
  for (const w of pairWorkers) w.send({ t, timeoutMs });
  const rs = await Promise.all(pairWorkers.map((w) => w.next<WorkerMessage & PairTotals>(t === "sample" ? "sample" : "drained", timeoutMs + 30_000)));
  const sum = (k: "sent" | "delivered" | "failed" | "closed" | "inflight") => rs.reduce((s, r) => s + r[k], 0);
  return { sent: sum("sent"), delivered: sum("delivered"), failed: sum("failed"), closed: sum("closed"), inflight: sum("inflight"), latenciesMs: rs.flatMap((r) => r.latenciesMs) };
}

async function holderCounts(): Promise<{ up: number; logins: number; loginFailures: number }> {
  for (const w of holders) w.send({ t: "counts" });
  const rs = await Promise.all(holders.map((w) => w.next<WorkerMessage & { up: number; logins: number; loginFailures: number }>("counts", 30_000)));
  return { up: rs.reduce((s, r) => s + r.up, 0), logins: rs.reduce((s, r) => s + r.logins, 0), loginFailures: rs.reduce((s, r) => s + r.loginFailures, 0) };
}

// --- the run -----------------------------------------------------------------------------

const COLUMNS = [
  "t_s", "rss_mib", "rss_low_mib", "rss_anon_mib", "rss_file_mib", "heap_mib", "heap_capacity_mib", "heap_extra_mib", "heap_objects",
  "external_mib", "array_buffers_mib", "malloc_live_mib", "malloc_committed_mib", "cpu_pct", "fds", "sent", "delivered", "failed", "inflight", "idle_up", "churn_logins",
  "login_failures", "attachments_ok", "attachments_failed",
] as const;

const csvPath = join(out, "soak.csv");
const svgPath = join(out, "soak.svg");
const rssSeries: [number, number][] = []; // minutes, MiB, every second
const heapSeries: [number, number][] = [];
const lowByBucket = new Map<number, number>(); // bucket index -> lowest RSS KiB
const bucketS = opts.minutes >= 3 ? 60 : 10; // a short smoke run gets 10 s buckets
const latencies: number[] = [];
let summary = "";

try {
  ctx.log(machineLine(describeMachine()));
  ctx.log(`soak: ${opts.minutes} min, ${opts.rate} msg/s over ${PAIRS} pairs, ${opts.idle} idle connections (${opts.churn}/min replaced), attachment every ${opts.attachmentEvery || "-"} min; out ${out}`);
  const before = await settled(2000, 30_000);
  await relayGc();
  const heapBefore = await relayHeap(true);
  await saveMaps(pid, "before-clients");
  ctx.log(`relay RSS before any client: ${(before.kib / 1024).toFixed(1)} MiB`);
  await startHolders();
  ctx.log(`${opts.idle} idle connections in`);
  await startPairs();
  const attach = await startAttachments();
  writeFileSync(csvPath, COLUMNS.join(",") + "\n");

  for (const w of pairWorkers) w.send({ t: "go" });
  const t0 = Date.now();
  const end = t0 + opts.minutes * 60_000;
  let nextSample = t0 + SAMPLE_MS;
  let nextAttachment = attach ? t0 + Math.min(opts.attachmentEvery * 60_000, 30_000) : Infinity;
  let churned = 0;
  let churnTurn = 0;
  let attachments = 0;
  let rowLow = Infinity;
  let cpuAt = { t: Date.now(), s: cpuSeconds(pid) };
  for (let tick = 1; Date.now() < end; tick++) {
    await Bun.sleep(Math.max(0, t0 + tick * 1000 - Date.now()));
    const now = Date.now();
    const st = statusKiB(pid);
    const rss = st.VmRSS ?? NaN;
    const sec = (now - t0) / 1000;
    rssSeries.push([sec / 60, rss / 1024]);
    rowLow = Math.min(rowLow, rss);
    const b = Math.floor(sec / bucketS);
    lowByBucket.set(b, Math.min(lowByBucket.get(b) ?? Infinity, rss));
    // Churn spread over the minute, one worker after the other.
    const owed = Math.floor((sec / 60) * opts.churn) - churned;
    if (owed > 0 && holders.length) {
      holders[churnTurn++ % holders.length]!.send({ t: "churn", n: owed });
      churned += owed;
    }
    if (attach && !attach.running && now >= nextAttachment && now < end - 60_000) {
      const n = ++attachments;
      attach.running = sendAttachment(attach, n).finally(() => (attach.running = undefined));
      nextAttachment = now + opts.attachmentEvery * 60_000;
    }
    if (now >= nextSample) {
      nextSample += SAMPLE_MS;
      const heap = await relayHeap();
      const mi = allocatorFigures(await allocatorDump());
      const p = await pairTotals("sample");
      latencies.push(...p.latenciesMs);
      const h = holders.length ? await holderCounts() : { up: 0, logins: 0, loginFailures: 0 };
      const cpuNow = { t: Date.now(), s: cpuSeconds(pid) };
      const cpuPct = ((cpuNow.s - cpuAt.s) / ((cpuNow.t - cpuAt.t) / 1000)) * 100;
      cpuAt = cpuNow;
      if (heap) heapSeries.push([sec / 60, heap.heapSize / MIB]);
      const mib = (kib: number | undefined) => (kib === undefined ? "" : (kib / 1024).toFixed(2));
      const bmib = (b: number | undefined) => (b === undefined ? "" : (b / MIB).toFixed(2));
      const row = [
        sec.toFixed(0), mib(rss), mib(rowLow), mib(st.RssAnon), mib(st.RssFile), bmib(heap?.heapSize), bmib(heap?.heapCapacity),
        bmib(heap?.extraMemorySize), heap?.objectCount ?? "", bmib(heap?.external), bmib(heap?.arrayBuffers), mi.liveMiB.toFixed(2), mi.committedMiB.toFixed(2), cpuPct.toFixed(1), fds(pid),
        p.sent, p.delivered, p.failed + p.closed, p.inflight, h.up, h.logins, h.loginFailures, attach?.ok ?? 0, attach?.failed ?? 0,
      ];
      writeFileSync(csvPath, row.join(",") + "\n", { flag: "a" });
      rowLow = Infinity;
      if (Math.round(sec) % 60 < 10) {
        ctx.log(`t=${(sec / 60).toFixed(1)} min: RSS ${mib(rss)} MiB, heap ${bmib(heap?.heapSize)} MiB, malloc ${mi.liveMiB.toFixed(1)} MiB live, CPU ${cpuPct.toFixed(0)}%, fds ${fds(pid)}, sent ${p.sent}, delivered ${p.delivered}, failed ${p.failed + p.closed}, idle up ${h.up}`);
      }
    }
  }

  // --- the end: drain, everyone leaves, the relay settles ----------------------------------
  await saveMaps(pid, "end-of-load");
  const totals = await pairTotals("drain");
  latencies.push(...totals.latenciesMs);
  if (attach?.running) await attach.running;
  const h = holders.length ? await holderCounts() : { up: 0, logins: 0, loginFailures: 0 };
  for (const w of holders) w.send({ t: "stop" });
  await Promise.all(holders.map((w) => w.next("stopped", 30_000).catch(() => undefined)));
  await Promise.all(workers.map((w) => w.stop()));
  for (const c of clients.splice(0)) await c.stop();
  ctx.log("all clients gone; waiting for the relay's RSS to settle");
  const after = await settled(10_000, opts.settleDeadline * 1000);
  await saveMaps(pid, "after-clients");
  const fdsAfter = fds(pid);
  // Then a full collection: what it leaves is held by the relay, not garbage waiting.
  await relayGc();
  const heapAfter = await relayHeap(true);
  const miAfterGc = allocatorFigures(await allocatorDump());
  const rssAfterGc = (await settled(2000, 20_000)).kib;
  await saveMaps(pid, "after-clients-gc");
  const growth = objectGrowth(heapBefore, heapAfter);
  writeFileSync(join(out, "objects-after-clients.txt"), growth.join("\n") + "\n");

  // --- figures -----------------------------------------------------------------------------
  const full = Math.floor((opts.minutes * 60) / bucketS); // buckets wholly inside the run
  const buckets = [...lowByBucket.entries()].filter(([b]) => b < full).sort((x, y) => x[0] - y[0]);
  const tail = buckets.filter(([b]) => b >= Math.floor(full / 3));
  const fit = fitLine(
    tail.map(([b]) => (b * bucketS) / 60),
    tail.map(([, kib]) => kib / 1024),
  );
  latencies.sort((x, y) => x - y);
  const lost = totals.sent - totals.delivered - totals.failed;
  const failed = totals.failed + totals.closed + h.loginFailures + (attach?.failed ?? 0);

  writeFileSync(
    svgPath,
    svgPlot({
      title: `relay memory: ${opts.minutes} min, ${opts.rate} msg/s, ${opts.idle} idle (${opts.churn}/min replaced), attachment every ${opts.attachmentEvery || "-"} min`,
      xLabel: "minutes",
      yLabel: "MiB",
      series: [
        { name: "RSS", color: "#1f77b4", points: rssSeries },
        { name: `RSS low per ${bucketS} s`, color: "#d62728", points: buckets.map(([b, kib]) => [(b * bucketS) / 60, kib / 1024]), dots: true },
        { name: "fit, last 2/3", color: "#ff7f0e", points: tail.length ? [tail[0]!, tail.at(-1)!].map(([b]) => [(b * bucketS) / 60, fit.intercept + (fit.slope * b * bucketS) / 60]) : [] },
        { name: "JS heap", color: "#2ca02c", points: heapSeries },
      ],
    }),
  );

  const f = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : "nan");
  const first = tail[0] ? (tail[0][0] * bucketS) / 60 : NaN;
  const last = tail.at(-1) ? (tail.at(-1)![0] * bucketS) / 60 : NaN;
  console.log(`messages: sent ${totals.sent}, delivered ${totals.delivered}, failed ${totals.failed}, lost ${lost}, pair connections dropped ${totals.closed}`);
  console.log(`latency: p50 ${f(percentile(latencies, 50), 2)} ms, p99 ${f(percentile(latencies, 99), 2)} ms (${latencies.length} samples)`);
  console.log(`idle connections: ${opts.idle}, ${h.logins} logins after churn, ${h.loginFailures} failed; attachments: ${attach?.ok ?? 0} of ${attachments} byte-identical`);
  console.log(`RSS low point per ${bucketS} s, minutes ${f(first, 2)}-${f(last, 2)}: slope ${f(fit.slope, 4)} MiB/min, R² ${f(fit.r2, 3)} (${fit.n} points, least squares)`);
  console.log(`relay RSS: ${(before.kib / 1024).toFixed(1)} MiB before any client, ${(after.kib / 1024).toFixed(1)} MiB after all clients left${after.settled ? "" : " (not settled by the deadline)"}; ${fdsAfter} fds open`);
  console.log(
    `after a full GC: RSS ${(rssAfterGc / 1024).toFixed(1)} MiB, JS heap ${((heapAfter?.heapSize ?? NaN) / MIB).toFixed(1)} MiB in ${((heapAfter?.heapCapacity ?? NaN) / MIB).toFixed(1)} MiB of blocks (${heapAfter?.objectCount} objects; ${((heapBefore?.heapSize ?? NaN) / MIB).toFixed(1)} MiB, ${heapBefore?.objectCount} before any client), malloc ${miAfterGc.liveMiB.toFixed(1)} MiB live; most grown object types: ${growth.slice(0, 5).join(", ")}`,
  );
  console.log(`csv: ${csvPath}\nplot: ${svgPath}`);
  summary = `soak: minutes=${opts.minutes} sent=${totals.sent} delivered=${totals.delivered} failed=${failed} lost=${lost} p50_ms=${f(percentile(latencies, 50), 3)} p99_ms=${f(percentile(latencies, 99), 3)} slope_mib_per_min=${f(fit.slope, 5)} r2=${f(fit.r2, 4)} rss_after_mib=${(after.kib / 1024).toFixed(2)} rss_before_mib=${(before.kib / 1024).toFixed(2)} rss_after_gc_mib=${(rssAfterGc / 1024).toFixed(2)} attachments=${attach?.ok ?? 0}/${attachments}`;
  console.log(summary);
  exitCode = lost === 0 && failed === 0 ? 0 : 1;
  if (exitCode) console.log("soak: something was lost or failed");
} catch (e) {
  console.error(`soak failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  console.error(relay.child.tail());
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  for (const c of clients) await c.stop();
  await relay.stop();
  ctx.cleanup();
}
process.exit(exitCode);
