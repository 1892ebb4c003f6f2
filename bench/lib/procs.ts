// Child processes for the benchmark: load generators and servers run apart from the thing
// measured, with a raised file limit when they hold thousands of sockets, their output
// collected line by line, and their memory read from /proc/PID/status.

import { spawn, type Subprocess } from "bun";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const MAIN = resolve(ROOT, "src/main.ts");
export const BUN = process.execPath;

/**
 * A command line that first raises the soft file limit as far as allowed: root may go past
 * the hard limit (the shell's `ulimit -n` fails otherwise and the hard limit is used).
 */
export function withFileLimit(cmd: string[], limit: number): string[] {
  const script = `ulimit -n ${limit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
  return ["bash", "-c", script, "bash", ...cmd];
}

export type Ipc = (message: unknown) => void;

/** A running child: its lines of output, and a way to wait for one. */
export class Child {
  readonly proc: Subprocess;
  readonly name: string;
  lines: string[] = [];
  /** Lines seen in all, also those dropped to keep memory bounded. */
  count = 0;
  #keep: number;
  #waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];

  constructor(name: string, cmd: string[], opts: { env?: Record<string, string>; ipc?: Ipc; keepLines?: number; cwd?: string } = {}) {
    this.name = name;
    this.#keep = opts.keepLines ?? 2000;
    const ipc = opts.ipc;
    this.proc = spawn(cmd, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, SMSG_PASSWORD: "", ...opts.env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      ...(ipc ? { ipc: (m: unknown) => ipc(m), serialization: "json" as const } : {}),
    });
    void this.#pump(this.proc.stdout as ReadableStream<Uint8Array>);
    void this.#pump(this.proc.stderr as ReadableStream<Uint8Array>);
  }

  get pid(): number {
    return this.proc.pid;
  }

  send(message: unknown): void {
    this.proc.send(message);
  }

  async #pump(s: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of s) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        this.#line(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) this.#line(buf);
  }

  #line(l: string): void {
    this.count++;
    this.lines.push(l);
    if (this.lines.length > this.#keep) this.lines.splice(0, this.lines.length - this.#keep);
    for (const w of [...this.#waiters]) {
      const m = l.match(w.re);
      if (m) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** The first line (already seen or still to come) matching re. */
  line(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    for (const l of this.lines) {
      const m = l.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const w = { re, resolve: (m: RegExpMatchArray) => (clearTimeout(t), resolve(m)) };
      const t = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      this.#waiters.push(w);
      void this.proc.exited.then((code) => {
        if (this.#waiters.includes(w)) {
          clearTimeout(t);
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          reject(new Error(`${this.name} exited (${code}) before printing ${re}\n${this.tail()}`));
        }
      });
    });
  }

  tail(n = 20): string {
    return this.lines.slice(-n).join("\n");
  }

  /** SIGTERM (or the given signal), then SIGKILL if it has not gone within graceMs. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<number> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill(signal);
      const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
      await this.proc.exited;
      clearTimeout(t);
    }
    return this.proc.exited;
  }
}

export interface Memory {
  /** resident set now, KiB */
  rssKiB: number;
  /** the high-water mark of the resident set since the process started, KiB */
  hwmKiB: number;
}

export function memoryOf(pid: number): Memory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

/**
 * Polls a process's memory until stopped; the peak is the largest high-water mark seen,
 * so a process that exits between polls still reports what it reached by the last one.
 */
export class PeakSampler {
  peakKiB = 0;
  /** The largest resident set seen by the polls alone: what happened while sampling, not before. */
  peakRssKiB = 0;
  #timer: ReturnType<typeof setInterval>;
  #pid: number;

  constructor(pid: number, everyMs = 100) {
    this.#pid = pid;
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const m = memoryOf(this.#pid);
    // An exited process not yet reaped still has a status file, without the Vm lines.
    if (m && Number.isFinite(m.hwmKiB)) this.peakKiB = Math.max(this.peakKiB, m.hwmKiB);
    if (m && Number.isFinite(m.rssKiB)) {
      this.peakKiB = Math.max(this.peakKiB, m.rssKiB);
      this.peakRssKiB = Math.max(this.peakRssKiB, m.rssKiB);
    }
  }

  stop(): number {
    this.sample();
    clearInterval(this.#timer);
    return this.peakKiB;
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/**
 * Waits until the resident set of pid stops moving (two readings windowMs apart within
 * 1%), or until timeoutMs: what an idle process settles at after a burst of garbage.
 */
export async function settledRss(pid: number, windowMs = 1000, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = memoryOf(pid)?.rssKiB ?? NaN;
  while (Date.now() < deadline) {
    await Bun.sleep(windowMs);
    const now = memoryOf(pid)?.rssKiB ?? NaN;
    if (Math.abs(now - last) <= last * 0.01) return now;
    last = now;
  }
  return last;
}

/** Resolves once 127.0.0.1:port accepts a connection; fails if child exits first. */
export async function waitForPort(port: number, child?: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    );
    if (ok) return;
    if (child && child.proc.exitCode !== null) throw new Error(`${child.name} exited (${child.proc.exitCode})\n${child.tail()}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** Minor page faults of a process so far: pages the kernel mapped in on first touch. */
export function minorFaults(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]); // minflt, the 10th field
  } catch {
    return NaN;
  }
}

/** CPU seconds a process spent in user space (its code, the runtime) and in the kernel (sockets). */
export function cpuTimes(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised name; utime and stime are the 14th and 15th overall.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]) / CLOCK_TICKS, system: Number(f[12]) / CLOCK_TICKS };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/** USER_HZ, 100 on every Linux that Bun runs on. */
const CLOCK_TICKS = 100;

/**
 * CPU seconds that some threads of some processes spend over a span, by thread name from
 * /proc/PID/task/TID/stat: the runtime's JIT compiler threads ("JITWorker"), which compile
 * the hot code during the first tens of seconds of a process and so are part of a short
 * window's CPU without being a cost per message or login. Sampled now and then, per thread,
 * so a thread that starts within the span counts whole and one that ends loses only what
 * it spent since the last sample.
 */
export class ThreadCpu {
  readonly #pids: number[];
  readonly #name: RegExp;
  readonly #start = new Map<string, number>();
  readonly #last = new Map<string, number>();
  #started = false;

  constructor(pids: number[], name: RegExp) {
    this.#pids = pids;
    this.#name = name;
  }

  sample(): void {
    for (const pid of this.#pids) {
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tids) {
        try {
          const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
          const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
          if (!this.#name.test(name)) continue;
          const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          const cpu = (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
          const key = `${pid}/${tid}`;
          if (!this.#start.has(key)) this.#start.set(key, this.#started ? 0 : cpu);
          this.#last.set(key, cpu);
        } catch {
          // The thread ended between the listing and the read.
        }
      }
    }
    this.#started = true;
  }

  /** CPU seconds since the first sample. */
  seconds(): number {
    let n = 0;
    for (const [key, cpu] of this.#last) n += cpu - this.#start.get(key)!;
    return n;
  }
}

