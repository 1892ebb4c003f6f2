// Running a set of load-generator workers through one timed window: configure them, wait
// until all are ready, start them together, and add up what they saw; meanwhile read the
// CPU time the server under test spends, which is steadier than a rate on a shared machine.

import { cpuSeconds as cpuOf, cpuTimes, ThreadCpu } from "./procs.ts";
import { percentile } from "./stats.ts";
import { allReady, Worker, type WorkerMessage } from "./worker.ts";

export interface Window {
  warmupMs: number;
  measureMs: number;
}

export interface RateResult {
  rate: number; // messages delivered per second, all workers together
  p50: number; // ms
  p99: number; // ms
  failures: number;
  /** CPU seconds the server process used per delivered message, in microseconds */
  serverCpuUs: number;
  /** Of serverCpuUs, what was spent in user space (its own code, the runtime): the part code changes move. */
  serverUserUs: number;
  /** The same for the generator processes together: they must cost less than the server. */
  generatorCpuUs: number;
  /**
   * Of serverCpuUs and generatorCpuUs, what the runtime's JIT compiler threads spent: a
   * process's warm-up, still going on in a window of seconds, not a cost per message.
   */
  serverJitUs: number;
  generatorJitUs: number;
  /** The same for opts.alsoPids together (a cluster's nats-server), 0 without them. */
  alsoCpuUs: number;
}

/** The JIT compiler threads of JavaScriptCore (Bun's engine), by the name it gives them. */
const JIT_THREADS = /^JITWorker/;
const JIT_SAMPLE_MS = 250;

export async function driveWorkers(name: string, script: string, configs: WorkerMessage[], p: Window, serverPid: number | number[], opts: { fileLimit?: number; alsoPids?: number[] } = {}): Promise<RateResult> {
  // The server may be several processes (a relay cluster's nodes): their CPU together.
  const pids = Array.isArray(serverPid) ? serverPid : [serverPid];
  const cpuSeconds = () => pids.reduce((n, pid) => n + cpuOf(pid), 0);
  const workers = configs.map((_, i) => new Worker(`${name} generator ${i}`, script, opts));
  const userSeconds = () => pids.reduce((n, pid) => n + cpuTimes(pid).user, 0);
  const genSeconds = () => workers.reduce((n, w) => n + cpuOf(w.child.pid), 0);
  const alsoSeconds = () => (opts.alsoPids ?? []).reduce((n, pid) => n + cpuOf(pid), 0);
  try {
    await allReady(workers, configs);
    for (const w of workers) w.send({ t: "go", warmupMs: p.warmupMs, measureMs: p.measureMs });
    // The server's CPU over the measured span (approximately: the workers time it).
    await Bun.sleep(p.warmupMs);
    const serverJit = new ThreadCpu(pids, JIT_THREADS);
    const generatorJit = new ThreadCpu(workers.map((w) => w.child.pid), JIT_THREADS);
    const cpu0 = cpuSeconds();
    const user0 = userSeconds();
    const gen0 = genSeconds();
    const also0 = alsoSeconds();
    serverJit.sample();
    generatorJit.sample();
    const end = performance.now() + p.measureMs;
    for (let left = p.measureMs; left > 0; left = end - performance.now()) {
      await Bun.sleep(Math.min(JIT_SAMPLE_MS, left));
      serverJit.sample();
      generatorJit.sample();
    }
    const cpu1 = cpuSeconds();
    const user1 = userSeconds();
    const gen1 = genSeconds();
    const also1 = alsoSeconds();
    const results = await Promise.all(
      workers.map((w) => w.next<WorkerMessage & { delivered: number; seconds: number; latenciesMs: number[]; failures: number }>("result", p.warmupMs + p.measureMs + 60_000)),
    );
    if (process.env.BENCH_DEBUG) for (const w of workers) console.error(w.child.tail());
    const lat = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    const rate = results.reduce((s, r) => s + r.delivered / r.seconds, 0);
    const messages = rate * (p.measureMs / 1000);
    return {
      rate,
      serverCpuUs: ((cpu1 - cpu0) / messages) * 1e6,
      serverUserUs: ((user1 - user0) / messages) * 1e6,
      generatorCpuUs: ((gen1 - gen0) / messages) * 1e6,
      serverJitUs: (serverJit.seconds() / messages) * 1e6,
      generatorJitUs: (generatorJit.seconds() / messages) * 1e6,
      alsoCpuUs: ((also1 - also0) / messages) * 1e6,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      failures: results.reduce((s, r) => s + r.failures, 0),
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

