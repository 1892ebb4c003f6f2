// The relay under test: src/server/relay.ts's startRelay, as `smsg relay` runs it (same
// core, sessions, sockets, directory, one log line per event on stdout), with the abuse
// limits an operator sets lifted: a benchmark from one loopback address must not be cut
// at 50 connections per address, 200 handshakes at once or 120 messages per user per minute. It measures what
// the relay can carry, not its policy. Its log goes to DATA_DIR/relay.log, one write per
// line, as a relay run as a service writes its log file. Stops gracefully on SIGTERM.
//
// usage: bun bench/servers/relay.ts DATA_DIR PORT [HEARTBEAT_TIMEOUT]
// BENCH_CLUSTER (JSON ClusterSettings) makes it a node of a relay cluster (bench/figures/cluster.ts).

import { openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { startRelay } from "../../src/server/relay.ts";
import { streamLog } from "../../src/server/log.ts";
import type { RelayOptions } from "../../src/server/relay-core.ts";
import type { ClusterSettings } from "../../src/server/cluster/nats-connect.ts";

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
