// Load-generator processes and the few messages the runner exchanges with them over Bun's
// IPC channel: config in, "ready", "go", and a result (or an error) out. A worker is a
// separate process so it never shares a core's event loop with what it measures.

import { BUN, Child, withFileLimit } from "./procs.ts";

export type WorkerMessage = { t: string; [k: string]: unknown };

export class Worker {
  readonly child: Child;
  #inbox: WorkerMessage[] = [];
  #waiters: { t: string; resolve: (m: WorkerMessage) => void; reject: (e: Error) => void }[] = [];

  constructor(name: string, script: string, opts: { fileLimit?: number } = {}) {
    // BENCH_PROFILE=DIR writes each worker's CPU profile there too.
    const prof = process.env.BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
    const cmd = [BUN, ...prof, script];
    this.child = new Child(name, opts.fileLimit ? withFileLimit(cmd, opts.fileLimit) : cmd, {
      ipc: (m) => this.#receive(m as WorkerMessage),
    });
    void this.child.proc.exited.then((code) => {
      for (const w of this.#waiters.splice(0)) {
        w.reject(new Error(`${name} exited (${code}) while the runner waited for "${w.t}"\n${this.child.tail()}`));
      }
    });
  }

  send(m: WorkerMessage): void {
    this.child.send(m);
  }

  #receive(m: WorkerMessage): void {
    if (m.t === "error") {
      const e = new Error(`${this.child.name}: ${String(m.message)}`);
      for (const w of this.#waiters.splice(0)) w.reject(e);
      this.#inbox.push(m);
      return;
    }
    const i = this.#waiters.findIndex((w) => w.t === m.t);
    if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(m);
    else this.#inbox.push(m);
  }

  /** The next message of type t (one that already came counts). */
  next<T extends WorkerMessage>(t: string, timeoutMs = 120_000): Promise<T> {
    const err = this.#inbox.find((m) => m.t === "error");
    if (err) return Promise.reject(new Error(`${this.child.name}: ${String(err.message)}`));
    const i = this.#inbox.findIndex((m) => m.t === t);
    if (i >= 0) return Promise.resolve(this.#inbox.splice(i, 1)[0] as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(new Error(`${this.child.name}: no "${t}" within ${timeoutMs} ms\n${this.child.tail()}`));
      }, timeoutMs);
      const w = {
        t,
        resolve: (m: WorkerMessage) => (clearTimeout(timer), resolve(m as T)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      this.#waiters.push(w);
    });
  }

  stop(): Promise<number> {
    return this.child.stop("SIGTERM", 5000);
  }
}

/** Worker side: handle the runner's messages; a thrown error goes back as "error". */
export function serve(handle: (m: WorkerMessage) => void | Promise<void>): void {
  // The runner stops a worker with SIGTERM; exiting on it (rather than dying of it) lets
  // --cpu-prof write the worker's profile.
  if (process.env.BENCH_PROFILE) process.on("SIGTERM", () => process.exit(0));
  process.on("message", (m) => {
    Promise.resolve()
      .then(() => handle(m as WorkerMessage))
      .catch((e: unknown) => {
        toRunner({ t: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      });
  });
}

export function toRunner(m: WorkerMessage): void {
  process.send!(m);
}

/** Several workers at once: send each its config, wait for all to be ready. */
export async function allReady(workers: Worker[], configs: WorkerMessage[], timeoutMs = 120_000): Promise<void> {
  workers.forEach((w, i) => w.send(configs[i]!));
  await Promise.all(workers.map((w) => w.next("ready", timeoutMs)));
}
