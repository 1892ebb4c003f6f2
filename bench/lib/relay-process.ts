// The relay under test as its own process (bench/servers/relay.ts: the relay `smsg relay`
// runs, limits lifted), on a loopback port, with a raised file limit. Its log is read and
// thrown away as it comes, so 10,000 login lines never block it on a full pipe.

import { resolve } from "node:path";
import { BUN, Child, withFileLimit, type Ipc } from "./procs.ts";
import { decodeRelayKey } from "../../src/protocol/keys.ts";

export interface RelayProcess {
  child: Child;
  port: number;
  key: string;
  publicKey: Uint8Array;
  stop(): Promise<number>;
}

export async function startRelayProcess(opts: {
  dataDir: string;
  port: number;
  heartbeatTimeout?: number;
  fileLimit?: number;
  /** Extra environment of the relay process (BENCH_CLUSTER for a cluster node; the soak's SMSG_BENCH_STATS, allocator settings). */
  env?: Record<string, string>;
  /** an IPC channel to the relay (bench/servers/relay.ts answers stats on it) */
  ipc?: Ipc;
}): Promise<RelayProcess> {
  // BENCH_PROFILE=DIR writes the relay's CPU profile there (bench/README.md, "Profiling").
  const prof = process.env.BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // BENCH_RELAY_SCRIPT: another tree's servers/relay.ts, for bench/relay-ab.ts to run two
  // versions of the relay in turn under the same generators.
  const script = process.env.BENCH_RELAY_SCRIPT ?? resolve(import.meta.dir, "../servers/relay.ts");
  const args = [BUN, ...prof, script, opts.dataDir, String(opts.port)];
  if (opts.heartbeatTimeout) args.push(String(opts.heartbeatTimeout));
  const child = new Child("relay", withFileLimit(args, opts.fileLimit ?? 65536), { keepLines: 500, env: opts.env, ipc: opts.ipc });
  const key = (await child.line(/^relay key: (smsgrelay1\w+)/))[1]!;
  const port = Number((await child.line(/^listening on .*:(\d+)$/))[1]);
  return { child, port, key, publicKey: decodeRelayKey(key), stop: () => child.stop() };
}
