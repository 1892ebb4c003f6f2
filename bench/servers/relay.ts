// The relay under test: src/server/relay.ts's startRelay, as `smsg relay` runs it (same
// core, sessions, sockets, directory, one log line per event on stdout), with the abuse
// limits an operator sets lifted: a benchmark from one loopback address must not be cut
// at 50 connections per address, 200 handshakes at once or 120 messages per user per minute. It measures what
// the relay can carry, not its policy. Its log goes to DATA_DIR/relay.log, one write per
// line, as a relay run as a service writes its log file. Stops gracefully on SIGTERM.
// With SMSG_BENCH_STATS=1 in its environment and an IPC channel (the soak, bench/soak.ts),
// it answers {t: "stats"} with the JS heap's figures (bun:jsc heapStats, memoryUsage): a
// side channel that exists only in the benchmark's relay, not in `smsg relay`. {t: "mimalloc"}
// prints the allocator's statistics on stderr (Bun.unsafe.mimallocDump) and then answers;
// {t: "gc"} runs a full, synchronous garbage collection first (what is left is live).
// {t: "stats", types: true} adds the heap's object counts per type. SMSG_BENCH_GC_EVERY=S
// runs a full collection every S seconds (an experiment: is a rise garbage or held?).
//
// usage: bun bench/servers/relay.ts DATA_DIR PORT [HEARTBEAT_TIMEOUT]
// BENCH_CLUSTER (JSON ClusterSettings) makes it a node of a relay cluster (bench/figures/cluster.ts).

import { heapStats } from "bun:jsc";
import { openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { startRelay } from "../../src/server/relay.ts";
import { streamLog } from "../../src/server/log.ts";
import { restartWithAllocatorEnv } from "../../src/cli/allocator-env.ts";
import type { RelayOptions } from "../../src/server/relay-core.ts";
import type { ClusterSettings } from "../../src/server/cluster/nats-connect.ts";

// As `smsg relay` does (src/cli/allocator-env.ts); not with an IPC channel (the soak), whose
// descriptor a second start would not be given.
if (!process.send) restartWithAllocatorEnv();

const [dataDir, port, heartbeat] = process.argv.slice(2);
if (!dataDir || !port) throw new Error("usage: relay.ts DATA_DIR PORT [HEARTBEAT_TIMEOUT]");

const UNLIMITED = 1_000_000;
// Named as the relay's options name them; a relay version without one ignores it.
const lifted: Record<string, number> = {
  maxConnections: UNLIMITED,
  maxConnectionsPerAddress: UNLIMITED,
  messagesPerMinute: UNLIMITED,
  // Every bench client comes from 127.0.0.1: thousands of logins at once are its job.
  handshakesPerSecond: UNLIMITED,
  handshakesBurst: UNLIMITED,
};
const options = { ...lifted, ...(heartbeat ? { heartbeatTimeout: Number(heartbeat) } : {}) } as Partial<RelayOptions>;

const out = (line: string) => console.log(line);
const logFd = openSync(join(dataDir, "relay.log"), "a", 0o600);
const log = streamLog((line) => writeSync(logFd, line + "\n"));
const cluster = process.env.BENCH_CLUSTER ? (JSON.parse(process.env.BENCH_CLUSTER) as ClusterSettings) : undefined;
const relay = await startRelay({ listen: [{ host: "127.0.0.1", port: Number(port) }], dataDir, log, options, cluster });
out(`relay key: ${relay.relayKey}`);
for (const a of relay.addresses) out(`listening on ${a.host}:${a.port}`);
const stop = async () => {
  await relay.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

if (process.env.SMSG_BENCH_STATS === "1" && process.send) {
  process.on("message", (m: { t?: string; types?: boolean }) => {
    if (m?.t === "mimalloc") {
      Bun.unsafe.mimallocDump();
      process.send!({ t: "mimalloc" });
      return;
    }
    if (m?.t === "gc") {
      Bun.gc(true);
      process.send!({ t: "gc" });
      return;
    }
    if (m?.t !== "stats") return;
    const h = heapStats();
    const u = process.memoryUsage();
    process.send!({
      t: "stats",
      heapSize: h.heapSize,
      heapCapacity: h.heapCapacity,
      extraMemorySize: h.extraMemorySize,
      objectCount: h.objectCount,
      rss: u.rss,
      external: u.external,
      arrayBuffers: u.arrayBuffers,
      ...(m.types ? { objectTypeCounts: h.objectTypeCounts } : {}),
    });
  });
}

const gcEvery = Number(process.env.SMSG_BENCH_GC_EVERY ?? 0);
if (gcEvery > 0) setInterval(() => Bun.gc(true), gcEvery * 1000);
