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
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { clientUser, connected, makeFile } from "./figures/attachment.ts";
import { api, startClientProcess, type ClientProcess } from "./lib/client-process.ts";
import { BenchContext } from "./lib/context.ts";
import { fitLine } from "./lib/fit.ts";
import { describeMachine, machineLine } from "./lib/machine.ts";
import { BUN, Child, cpuSeconds, freePort, MAIN, memoryOf } from "./lib/procs.ts";
import { startRelayProcess, type RelayProcess } from "./lib/relay-process.ts";
import { register, startNatsServer } from "./figures/cluster.ts";
import type { ClusterSettings } from "../src/server/cluster/nats-connect.ts";
import { percentile } from "./lib/stats.ts";
import { svgPlot } from "./lib/svg-plot.ts";
import { benchIdentity, makeUsers, registerUsers, type BenchUser } from "./lib/users.ts";
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
  .option("--cluster", "two relay nodes on a local nats-server with JetStream instead of one relay")
  .option("--kill-at <minutes>", "with --cluster: SIGKILL node a at this minute and start it again", num(0))
  .parse()
  .opts<{ minutes: number; rate: number; idle: number; churn: number; attachmentEvery: number; out?: string; relayEnv: Record<string, string>; settleDeadline: number; cluster?: boolean; killAt?: number }>();
if (opts.killAt !== undefined && !opts.cluster) {
  console.error("soak: --kill-at needs --cluster");
  process.exit(2);
}
if (opts.killAt !== undefined && opts.killAt >= opts.minutes) {
  console.error("soak: --kill-at must fall inside --minutes");
  process.exit(2);
}

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

// --- the relay nodes and their side channels ----------------------------------------------

interface HeapStats {
  heapSize: number;
  heapCapacity: number;
  extraMemorySize: number;
  objectCount: number;
  external: number;
  arrayBuffers: number;
  objectTypeCounts?: Record<string, number>;
}

/**
 * One relay process (the relay, or a node of the cluster) and its benchmark side channel:
 * heap figures, the allocator's dump, a full GC. A node killed and started again keeps its
 * name, data dir and port; its process (and pid) is new.
 */
class RelayNode {
  relay!: RelayProcess;
  #statsWaiter: ((s: HeapStats) => void) | undefined;
  #dumpWaiter: (() => void) | undefined;
  #gcWaiter: (() => void) | undefined;
  /** What each minute's (or 10 s) bucket's lowest RSS was, in KiB. */
  readonly lowByBucket = new Map<number, number>();
  readonly rssSeries: [number, number][] = [];
  readonly heapSeries: [number, number][] = [];
  rowLow = Infinity;
  cpuAt = { t: 0, s: 0 };
  /** When it was started again after a kill (seconds into the load), if it was. */
  restartedAtS?: number;

  constructor(
    readonly name: string,
    readonly dataDir: string,
    readonly port: number,
    readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    this.relay = await startRelayProcess({
      dataDir: this.dataDir,
      port: this.port,
      fileLimit: FILE_LIMIT,
      env: { SMSG_BENCH_STATS: "1", ...opts.relayEnv, ...this.env },
      ipc: (m) => {
        if ((m as WorkerMessage).t === "stats") this.#statsWaiter?.(m as HeapStats);
        if ((m as WorkerMessage).t === "mimalloc") this.#dumpWaiter?.();
        if ((m as WorkerMessage).t === "gc") this.#gcWaiter?.();
      },
    });
    this.cpuAt = { t: Date.now(), s: cpuSeconds(this.pid) };
  }

  get pid(): number {
    return this.relay.child.pid;
  }

  /** A column's name: as it was for one relay, prefixed with the node's name in a cluster. */
  col(c: string): string {
    return cluster ? `${this.name}_${c}` : c;
  }

  heap(types = false): Promise<HeapStats | undefined> {
    return new Promise((done) => {
      const t = setTimeout(() => ((this.#statsWaiter = undefined), done(undefined)), 5000);
      this.#statsWaiter = (s) => (clearTimeout(t), (this.#statsWaiter = undefined), done(s));
      this.relay.child.send({ t: "stats", types });
    });
  }

  /** A full garbage collection in the relay: what is left afterwards is held, not garbage. */
  gc(): Promise<void> {
    return new Promise((done) => {
      const t = setTimeout(done, 30_000);
      this.#gcWaiter = () => (clearTimeout(t), (this.#gcWaiter = undefined), done());
      this.relay.child.send({ t: "gc" });
    });
  }

  /** The relay's allocator statistics (mimalloc's, printed on its stderr), as lines. */
  async allocatorDump(): Promise<string[]> {
    const child = this.relay.child;
    const from = child.count;
    await new Promise<void>((done) => {
      const t = setTimeout(done, 5000);
      this.#dumpWaiter = () => (clearTimeout(t), (this.#dumpWaiter = undefined), done());
      child.send({ t: "mimalloc" });
    });
    // stderr and the IPC answer travel apart: wait for the dump's last section.
    for (let i = 0; i < 50 && !child.lines.slice(-(child.count - from)).some((l) => /^\s*process\s*:/.test(l)); i++) await Bun.sleep(20);
    const n = Math.min(child.count - from, child.lines.length);
    return n > 0 ? child.lines.slice(-n) : [];
  }

  /** The relay's memory maps and its allocator's statistics, into out. */
  async saveMaps(tag: string): Promise<void> {
    const prefix = cluster ? `${this.name}.` : "";
    writeFileSync(join(out, `${prefix}${tag}.mimalloc.txt`), (await this.allocatorDump()).join("\n") + "\n");
    for (const f of ["smaps_rollup", "smaps"]) {
      try {
        writeFileSync(join(out, `${prefix}${tag}.${f}`), readFileSync(`/proc/${this.pid}/${f}`));
      } catch {
        // not Linux, or gone
      }
    }
  }

  /** RSS once the relay is left alone: at least minMs, then until 5 s apart within 0.25 MiB. */
  async settled(minMs: number, deadlineMs: number): Promise<{ kib: number; settled: boolean }> {
    const deadline = Date.now() + deadlineMs;
    await Bun.sleep(minMs);
    let last = memoryOf(this.pid)?.rssKiB ?? NaN;
    while (Date.now() < deadline) {
      await Bun.sleep(5000);
      const now = memoryOf(this.pid)?.rssKiB ?? NaN;
      if (Math.abs(now - last) <= 256) return { kib: now, settled: true };
      last = now;
    }
    return { kib: last, settled: false };
  }
}

const cluster = opts.cluster === true;
let nats: Awaited<ReturnType<typeof startNatsServer>> | undefined;
let clusterBase: ClusterSettings | undefined;
const nodes: RelayNode[] = [];
if (cluster) {
  if (!Bun.which("nats-server")) {
    console.error("soak: --cluster needs nats-server (scripts/setup-system.sh installs it)");
    process.exit(2);
  }
  nats = await startNatsServer(ctx.dir("nats"));
  clusterBase = { servers: [nats.url], user: "smsg", passwordFile: nats.passwordFile, replicas: 1 };
  for (const name of ["a", "b"]) {
    const n = new RelayNode(name, ctx.dir(`node-${name}`), freePort(), { BENCH_CLUSTER: JSON.stringify({ ...clusterBase, node: name }) });
    // Every node holds the one relay key (README, "A cluster of relays").
    if (nodes.length) copyFileSync(join(nodes[0]!.dataDir, "relay-key"), join(n.dataDir, "relay-key"));
    await n.start();
    nodes.push(n);
  }
} else {
  const n = new RelayNode("relay", ctx.dir("relay"), freePort(), {});
  await n.start();
  nodes.push(n);
}
const firstNode = nodes[0]!;
const servers = nodes.map((n) => ({ host: "127.0.0.1", port: n.port }));

/** Users known to the relay: its directory, or the cluster's replicated one. */
async function registerAll(users: BenchUser[]): Promise<void> {
  if (clusterBase) await register(clusterBase, users);
  else registerUsers(firstNode.dataDir, users);
}

/** The order in which worker i's clients try the nodes: half start on each. */
function rotated(i: number): { host: string; port: number }[] {
  return servers.map((_, k) => servers[(i + k) % servers.length]!);
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
  await registerAll(users);
  const identity = benchIdentity();
  // One session key per expected login (the last is used again after that).
  const keysAhead = Math.min(8, 2 + Math.ceil((opts.churn * opts.minutes) / opts.idle));
  let first = 0;
  for (const [i, n] of split(opts.idle, HOLDER_WORKERS).entries()) {
    if (n === 0) continue;
    const w = new Worker(`idle holder ${i}`, join(WORKERS, "conn-holder.ts"), { fileLimit: FILE_LIMIT });
    holders.push(w);
    workers.push(w);
    const config = { t: "config", mode: "smsg", host: "127.0.0.1", port: firstNode.port, ...(cluster ? { servers: rotated(i) } : {}), users: users.slice(first, first + n), count: 0, identity, concurrency: 50, heartbeatMs: 10_000, maxBackoffMs: 30_000, keysAhead };
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
  await registerAll([...senders, ...recipients]);
  const identity = benchIdentity();
  const rates = split(opts.rate, PAIR_WORKERS);
  let first = 0;
  const configs: WorkerMessage[] = split(PAIRS, PAIR_WORKERS).map((n, i) => {
    const c = {
      t: "config",
      host: "127.0.0.1",
      // In a cluster every pair crosses it: worker i's senders on one node, recipients on the other.
      port: rotated(i)[0]!.port,
      rxPort: rotated(i + 1)[0]!.port,
      servers: rotated(i),
      retry: cluster,
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
  const reg = cluster ? registerAll : undefined;
  const ua = await clientUser(ctx, "a", firstNode.dataDir, reg);
  const ub = await clientUser(ctx, "b", firstNode.dataDir, reg);
  // In a cluster the daemons are given every node (README, "A cluster of relays"), each starting on its own.
  const server = (i: number) => rotated(i).map((s) => `${s.host}:${s.port}`).join(",");
  const a = await startClientProcess({ user: "a", dataDir: ua.dataDir, server: server(0), passwordFile: ua.passwordFile, relayKey: firstNode.relay.key });
  clients.push(a);
  const b = await startClientProcess({ user: "b", dataDir: ub.dataDir, server: server(1), passwordFile: ub.passwordFile, relayKey: firstNode.relay.key });
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
  duplicates: number;
  resent: number;
  rejoins: number;
  down: number;
  latenciesMs: number[];
}

async function pairTotals(t: "sample" | "drain", timeoutMs = 30_000): Promise<PairTotals> {
  for (const w of pairWorkers) w.send({ t, timeoutMs });
  const rs = await Promise.all(pairWorkers.map((w) => w.next<WorkerMessage & PairTotals>(t === "sample" ? "sample" : "drained", timeoutMs + 30_000)));
  const sum = (k: Exclude<keyof PairTotals, "latenciesMs">) => rs.reduce((s, r) => s + r[k], 0);
  return {
    sent: sum("sent"), delivered: sum("delivered"), failed: sum("failed"), closed: sum("closed"), inflight: sum("inflight"),
    duplicates: sum("duplicates"), resent: sum("resent"), rejoins: sum("rejoins"), down: sum("down"), latenciesMs: rs.flatMap((r) => r.latenciesMs),
  };
}

async function holderCounts(): Promise<{ up: number; logins: number; loginFailures: number }> {
  for (const w of holders) w.send({ t: "counts" });
  const rs = await Promise.all(holders.map((w) => w.next<WorkerMessage & { up: number; logins: number; loginFailures: number }>("counts", 30_000)));
  return { up: rs.reduce((s, r) => s + r.up, 0), logins: rs.reduce((s, r) => s + r.logins, 0), loginFailures: rs.reduce((s, r) => s + r.loginFailures, 0) };
}


// --- the run -----------------------------------------------------------------------------

/** Each node's columns (prefixed with its name in a cluster), then the load's. */
const NODE_COLUMNS = [
  "rss_mib", "rss_low_mib", "rss_anon_mib", "rss_file_mib", "heap_mib", "heap_capacity_mib", "heap_extra_mib", "heap_objects",
  "external_mib", "array_buffers_mib", "malloc_live_mib", "malloc_committed_mib", "cpu_pct", "fds",
] as const;
const LOAD_COLUMNS = ["sent", "delivered", "failed", "inflight", "idle_up", "churn_logins", "login_failures", "attachments_ok", "attachments_failed"] as const;
const CLUSTER_COLUMNS = ["duplicates", "resent", "pair_rejoins", "pairs_down"] as const;
const COLUMNS = ["t_s", ...nodes.flatMap((n) => NODE_COLUMNS.map((c) => n.col(c))), ...LOAD_COLUMNS, ...(cluster ? CLUSTER_COLUMNS : [])];

const csvPath = join(out, "soak.csv");
const svgPath = join(out, "soak.svg");
const bucketS = opts.minutes >= 3 ? 60 : 10; // a short smoke run gets 10 s buckets
const latencies: number[] = [];
const COLORS = [["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c"], ["#9467bd", "#8c564b", "#e377c2", "#17becf"]];
let summary = "";
let killed: { atS: number; node: string; backAfterS: number; up: number } | undefined;

try {
  ctx.log(machineLine(describeMachine()));
  ctx.log(
    `soak: ${opts.minutes} min, ${opts.rate} msg/s over ${PAIRS} pairs, ${opts.idle} idle connections (${opts.churn}/min replaced), attachment every ${opts.attachmentEvery || "-"} min${cluster ? `, cluster of ${nodes.length} nodes${opts.killAt !== undefined ? `, node ${firstNode.name} killed at minute ${opts.killAt}` : ""}` : ""}; out ${out}`,
  );
  const before = new Map<RelayNode, number>();
  const heapBefore = new Map<RelayNode, HeapStats | undefined>();
  for (const n of nodes) {
    before.set(n, (await n.settled(2000, 30_000)).kib);
    await n.gc();
    heapBefore.set(n, await n.heap(true));
    await n.saveMaps("before-clients");
    ctx.log(`${cluster ? `node ${n.name}` : "relay"} RSS before any client: ${(before.get(n)! / 1024).toFixed(1)} MiB`);
  }
  await startHolders();
  ctx.log(`${opts.idle} idle connections in`);
  await startPairs();
  const attach = await startAttachments();
  writeFileSync(csvPath, COLUMNS.join(",") + "\n");

  for (const w of pairWorkers) w.send({ t: "go" });
  const t0 = Date.now();
  const end = t0 + opts.minutes * 60_000;
  const killAt = opts.killAt !== undefined ? t0 + opts.killAt * 60_000 : Infinity;
  let nextSample = t0 + SAMPLE_MS;
  let nextAttachment = attach ? t0 + Math.min(opts.attachmentEvery * 60_000, 30_000) : Infinity;
  let churned = 0;
  let churnTurn = 0;
  let attachments = 0;
  for (let tick = 1; Date.now() < end; tick++) {
    await Bun.sleep(Math.max(0, t0 + tick * 1000 - Date.now()));
    const now = Date.now();
    const sec = (now - t0) / 1000;
    if (now >= killAt && !killed) {
      // SIGKILL: no goodbye to clients or NATS; then the same node (data dir, port) again.
      const victim = firstNode;
      ctx.log(`t=${(sec / 60).toFixed(2)} min: killing node ${victim.name} (SIGKILL) and starting it again`);
      victim.relay.child.proc.kill("SIGKILL");
      await victim.relay.child.proc.exited;
      const k0 = Date.now();
      await victim.start();
      victim.restartedAtS = (Date.now() - t0) / 1000;
      killed = { atS: sec, node: victim.name, backAfterS: (Date.now() - k0) / 1000, up: 0 };
      ctx.log(`node ${victim.name} back after ${killed.backAfterS.toFixed(1)} s`);
    }
    for (const n of nodes) {
      const rss = statusKiB(n.pid).VmRSS ?? NaN;
      n.rssSeries.push([sec / 60, rss / 1024]);
      n.rowLow = Math.min(n.rowLow, rss);
      const b = Math.floor(sec / bucketS);
      n.lowByBucket.set(b, Math.min(n.lowByBucket.get(b) ?? Infinity, rss));
    }
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
      const mib = (kib: number | undefined) => (kib === undefined ? "" : (kib / 1024).toFixed(2));
      const bmib = (b: number | undefined) => (b === undefined ? "" : (b / MIB).toFixed(2));
      const row: (string | number)[] = [sec.toFixed(0)];
      const said: string[] = [];
      for (const n of nodes) {
        const st = statusKiB(n.pid);
        const heap = await n.heap();
        const mi = allocatorFigures(await n.allocatorDump());
        const cpuNow = { t: Date.now(), s: cpuSeconds(n.pid) };
        const cpuPct = ((cpuNow.s - n.cpuAt.s) / ((cpuNow.t - n.cpuAt.t) / 1000)) * 100;
        n.cpuAt = cpuNow;
        if (heap) n.heapSeries.push([sec / 60, heap.heapSize / MIB]);
        row.push(
          mib(st.VmRSS), mib(n.rowLow), mib(st.RssAnon), mib(st.RssFile), bmib(heap?.heapSize), bmib(heap?.heapCapacity), bmib(heap?.extraMemorySize),
          heap?.objectCount ?? "", bmib(heap?.external), bmib(heap?.arrayBuffers), mi.liveMiB.toFixed(2), mi.committedMiB.toFixed(2), cpuPct.toFixed(1), fds(n.pid),
        );
        n.rowLow = Infinity;
        said.push(`${cluster ? `${n.name}: ` : ""}RSS ${mib(st.VmRSS)} MiB, heap ${bmib(heap?.heapSize)} MiB, malloc ${mi.liveMiB.toFixed(1)} MiB live, CPU ${cpuPct.toFixed(0)}%, fds ${fds(n.pid)}`);
      }
      const p = await pairTotals("sample");
      latencies.push(...p.latenciesMs);
      const h = holders.length ? await holderCounts() : { up: 0, logins: 0, loginFailures: 0 };
      row.push(p.sent, p.delivered, p.failed + p.closed, p.inflight, h.up, h.logins, h.loginFailures, attach?.ok ?? 0, attach?.failed ?? 0);
      if (cluster) row.push(p.duplicates, p.resent, p.rejoins, p.down);
      writeFileSync(csvPath, row.join(",") + "\n", { flag: "a" });
      if (Math.round(sec) % 60 < 10 || (killed && sec - killed.atS < 60)) {
        ctx.log(`t=${(sec / 60).toFixed(1)} min: ${said.join("; ")}; sent ${p.sent}, delivered ${p.delivered}, failed ${p.failed + p.closed}, idle up ${h.up}${cluster ? `, resent ${p.resent}, duplicates ${p.duplicates}, pairs down ${p.down}` : ""}`);
      }
    }
  }

  // --- the end: drain, everyone leaves, the relay settles ----------------------------------
  for (const n of nodes) await n.saveMaps("end-of-load");
  // A cluster's pairs may still be coming back from the kill: give them longer.
  const totals = await pairTotals("drain", cluster ? 120_000 : 30_000);
  latencies.push(...totals.latenciesMs);
  if (attach?.running) await attach.running;
  const h = holders.length ? await holderCounts() : { up: 0, logins: 0, loginFailures: 0 };
  for (const w of holders) w.send({ t: "stop" });
  await Promise.all(holders.map((w) => w.next("stopped", 30_000).catch(() => undefined)));
  await Promise.all(workers.map((w) => w.stop()));
  for (const c of clients.splice(0)) await c.stop();
  ctx.log("all clients gone; waiting for the relays' RSS to settle");

  const f = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : "nan");
  const series: Parameters<typeof svgPlot>[0]["series"] = [];
  const perNode: string[] = [];
  const fields: string[] = [];
  for (const [i, n] of nodes.entries()) {
    const after = await n.settled(10_000, opts.settleDeadline * 1000);
    await n.saveMaps("after-clients");
    const fdsAfter = fds(n.pid);
    // Then a full collection: what it leaves is held by the relay, not garbage waiting.
    await n.gc();
    const heapAfter = await n.heap(true);
    const miAfterGc = allocatorFigures(await n.allocatorDump());
    const rssAfterGc = (await n.settled(2000, 20_000)).kib;
    await n.saveMaps("after-clients-gc");
    // A restarted node's "before" is the new process's: its first reading after the restart.
    const heapB = n.restartedAtS === undefined ? heapBefore.get(n) : undefined;
    const growth = objectGrowth(heapB, heapAfter);
    writeFileSync(join(out, `${cluster ? `${n.name}.` : ""}objects-after-clients.txt`), growth.join("\n") + "\n");

    // The fit: buckets wholly inside the run, over its last two thirds; for a node started
    // again, only buckets wholly after its restart (its old process's memory is another's).
    const full = Math.floor((opts.minutes * 60) / bucketS);
    const from = n.restartedAtS === undefined ? Math.floor(full / 3) : Math.max(Math.floor(full / 3), Math.ceil(n.restartedAtS / bucketS) + 1);
    const buckets = [...n.lowByBucket.entries()].filter(([b]) => b < full).sort((x, y) => x[0] - y[0]);
    const tail = buckets.filter(([b]) => b >= from);
    const fit = fitLine(
      tail.map(([b]) => (b * bucketS) / 60),
      tail.map(([, kib]) => kib / 1024),
    );
    const [c1, c2, c3, c4] = COLORS[i % COLORS.length]!;
    const label = cluster ? `node ${n.name} ` : "";
    series.push(
      { name: `${label}RSS`, color: c1!, points: n.rssSeries },
      { name: `${label}RSS low per ${bucketS} s`, color: c2!, points: buckets.map(([b, kib]) => [(b * bucketS) / 60, kib / 1024]), dots: true },
      { name: `${label}fit`, color: c3!, points: tail.length ? [tail[0]!, tail.at(-1)!].map(([b]) => [(b * bucketS) / 60, fit.intercept + (fit.slope * b * bucketS) / 60]) : [] },
      { name: `${label}JS heap`, color: c4!, points: n.heapSeries },
    );
    const firstMin = tail[0] ? (tail[0][0] * bucketS) / 60 : NaN;
    const lastMin = tail.at(-1) ? (tail.at(-1)![0] * bucketS) / 60 : NaN;
    const who = cluster ? `node ${n.name}${n.restartedAtS !== undefined ? ` (killed and started again at minute ${(n.restartedAtS / 60).toFixed(2)})` : ""}` : "relay";
    perNode.push(`${who}: RSS low point per ${bucketS} s, minutes ${f(firstMin, 2)}-${f(lastMin, 2)}: slope ${f(fit.slope, 4)} MiB/min, R² ${f(fit.r2, 3)} (${fit.n} points, least squares)`);
    perNode.push(
      `${who}: RSS ${(before.get(n)! / 1024).toFixed(1)} MiB before any client${n.restartedAtS !== undefined ? " (of its first process)" : ""}, ${(after.kib / 1024).toFixed(1)} MiB after all clients left${after.settled ? "" : " (not settled by the deadline)"}; ${fdsAfter} fds open`,
    );
    perNode.push(
      `${who}: after a full GC: RSS ${(rssAfterGc / 1024).toFixed(1)} MiB, JS heap ${((heapAfter?.heapSize ?? NaN) / MIB).toFixed(1)} MiB in ${((heapAfter?.heapCapacity ?? NaN) / MIB).toFixed(1)} MiB of blocks (${heapAfter?.objectCount} objects), malloc ${miAfterGc.liveMiB.toFixed(1)} MiB live; most grown object types: ${growth.slice(0, 5).join(", ")}`,
    );
    const k = (x: string) => (cluster ? `${n.name}_${x}` : x);
    fields.push(
      `${k("slope_mib_per_min")}=${f(fit.slope, 5)}`, `${k("r2")}=${f(fit.r2, 4)}`, `${k("rss_after_mib")}=${(after.kib / 1024).toFixed(2)}`,
      `${k("rss_before_mib")}=${(before.get(n)! / 1024).toFixed(2)}`, `${k("rss_after_gc_mib")}=${(rssAfterGc / 1024).toFixed(2)}`,
    );
  }
  latencies.sort((x, y) => x - y);
  // Lost: sent, and neither delivered nor reported failed by the drain's deadline.
  const lost = totals.sent - totals.delivered - totals.failed;
  const failed = totals.failed + totals.closed + h.loginFailures + (attach?.failed ?? 0);

  writeFileSync(
    svgPath,
    svgPlot({
      title: `relay memory: ${opts.minutes} min, ${opts.rate} msg/s, ${opts.idle} idle (${opts.churn}/min replaced), attachment every ${opts.attachmentEvery || "-"} min${cluster ? `, 2 nodes${killed ? `, ${killed.node} killed at ${(killed.atS / 60).toFixed(1)} min` : ""}` : ""}`,
      xLabel: "minutes",
      yLabel: "MiB",
      series,
    }),
  );

  console.log(`messages: sent ${totals.sent}, delivered ${totals.delivered}, failed ${totals.failed}, lost ${lost}, pair connections dropped ${totals.closed}${cluster ? `, resent ${totals.resent}, duplicates (delivered again, not counted) ${totals.duplicates}, pair rejoins ${totals.rejoins}` : ""}`);
  if (killed) console.log(`kill: node ${killed.node} SIGKILLed at minute ${(killed.atS / 60).toFixed(2)}, listening again ${killed.backAfterS.toFixed(1)} s later`);
  console.log(`latency: p50 ${f(percentile(latencies, 50), 2)} ms, p99 ${f(percentile(latencies, 99), 2)} ms (${latencies.length} samples)`);
  console.log(`idle connections: ${opts.idle}, ${h.logins} logins after churn${cluster ? " and failover" : ""}, ${h.loginFailures} failed; attachments: ${attach?.ok ?? 0} of ${attachments} byte-identical`);
  for (const l of perNode) console.log(l);
  console.log(`csv: ${csvPath}\nplot: ${svgPath}`);
  summary = `soak: minutes=${opts.minutes} sent=${totals.sent} delivered=${totals.delivered} failed=${failed} lost=${lost} p50_ms=${f(percentile(latencies, 50), 3)} p99_ms=${f(percentile(latencies, 99), 3)} ${fields.join(" ")} attachments=${attach?.ok ?? 0}/${attachments}${cluster ? ` duplicates=${totals.duplicates} resent=${totals.resent} rejoins=${totals.rejoins}${killed ? ` killed_at_min=${(killed.atS / 60).toFixed(2)}` : ""}` : ""}`;
  console.log(summary);
  exitCode = lost === 0 && failed === 0 ? 0 : 1;
  if (exitCode) console.log("soak: something was lost or failed");
} catch (e) {
  console.error(`soak failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  for (const n of nodes) console.error(n.relay.child.tail());
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  for (const c of clients) await c.stop();
  for (const n of nodes) await n.relay.stop();
  await nats?.child.stop();
  ctx.cleanup();
}
process.exit(exitCode);
