// A long, narrow path on loopback (bench "attachment over a long path", SPEC.md §6.3): a TCP
// proxy that gives each direction of each connection a bottleneck of `bytesPerSecond` and then
// a one-way delay of `delayMs`, as a link between continents does. Bytes are serialized at
// the bottleneck rate in arrival order, then delivered `delayMs` later; while more than
// `queueBytes` wait for the bottleneck, the proxy stops reading that side (a router's buffer:
// the sender's TCP backs up instead of the proxy's memory growing). Pure Bun sockets; every
// write that the kernel does not take at once waits for drain.

import type { Socket, TCPSocketListener } from "bun";

export interface SlowPathOptions {
  /** Where the proxy connects for every connection it accepts. */
  target: { host: string; port: number };
  /** One-way delay per direction, ms (a round trip is twice this). */
  delayMs: number;
  /** Bottleneck rate per direction, bytes per second. */
  bytesPerSecond: number;
  /** Bytes that may wait for the bottleneck before the sending side is no longer read. */
  queueBytes?: number;
}

export interface SlowPath {
  readonly port: number;
  /** Bytes delivered so far in each direction, over all connections. */
  readonly delivered: { up: number; down: number };
  /** Resolves with performance.now() when delivered.up reaches bytes. */
  reached(bytes: number): Promise<number>;
  stop(): void;
}

/** Delivered pieces are at most this long, so a large read is not one burst at the far end. */
const PIECE = 16 * 1024;

/** One direction of one connection: bottleneck, delay line, and the far side's write queue. */
class Direction {
  #line: { at: number; bytes: Uint8Array }[] = [];
  #head = 0;
  #nextFree = 0; // when the bottleneck is free again (performance.now() ms)
  #timer: ReturnType<typeof setTimeout> | undefined;
  #unwritten: Uint8Array[] = [];
  #ended = false;
  to: Socket<unknown> | undefined;
  paused = false;

  constructor(
    private readonly opts: Required<SlowPathOptions>,
    private readonly from: () => Socket<unknown> | undefined,
    private readonly count: (n: number) => void,
  ) {}

  push(data: Uint8Array): void {
    const now = performance.now();
    for (let off = 0; off < data.length; off += PIECE) {
      const bytes = data.slice(off, off + PIECE); // a copy: the socket may reuse its buffer
      this.#nextFree = Math.max(now, this.#nextFree) + (bytes.length / this.opts.bytesPerSecond) * 1000;
      this.#line.push({ at: this.#nextFree + this.opts.delayMs, bytes });
    }
    if (this.#waiting(now) > this.opts.queueBytes && !this.paused) {
      this.paused = true;
      this.from()?.pause();
    }
    this.#schedule();
  }

  /** The source closed: end the far side once everything queued is delivered. */
  end(): void {
    this.#ended = true;
    this.#finishIfDone();
  }

  /** Bytes not yet through the bottleneck. */
  #waiting(now: number): number {
    return Math.max(0, this.#nextFree - now) * (this.opts.bytesPerSecond / 1000);
  }

  #schedule(): void {
    if (this.#timer || this.#head >= this.#line.length) return;
    const wait = Math.max(0, this.#line[this.#head]!.at - performance.now());
    this.#timer = setTimeout(() => this.#deliver(), wait);
  }

  #deliver(): void {
    this.#timer = undefined;
    const now = performance.now();
    while (this.#head < this.#line.length && this.#line[this.#head]!.at <= now) {
      const { bytes } = this.#line[this.#head++]!;
      this.count(bytes.length);
      this.#write(bytes);
    }
    if (this.#head > 4096) {
      this.#line = this.#line.slice(this.#head);
      this.#head = 0;
    }
    if (this.paused && this.#waiting(now) <= this.opts.queueBytes / 2) {
      this.paused = false;
      this.from()?.resume();
    }
    this.#schedule();
    this.#finishIfDone();
  }

  #write(bytes: Uint8Array): void {
    if (!this.to) return;
    if (this.#unwritten.length > 0) {
      this.#unwritten.push(bytes);
      return;
    }
    const n = this.to.write(bytes);
    if (n < bytes.length) this.#unwritten.push(bytes.subarray(Math.max(0, n)));
  }

  /** The far side can take more. */
  drain(): void {
    while (this.to && this.#unwritten.length > 0) {
      const b = this.#unwritten[0]!;
      const n = this.to.write(b);
      if (n < b.length) {
        this.#unwritten[0] = b.subarray(Math.max(0, n));
        return;
      }
      this.#unwritten.shift();
    }
    this.#finishIfDone();
  }

  #finishIfDone(): void {
    if (this.#ended && this.#head >= this.#line.length && this.#unwritten.length === 0) this.to?.end();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

interface Conn {
  up: Direction; // client -> target
  down: Direction; // target -> client
  client: Socket<Conn>;
  target: Socket<unknown> | undefined;
}

export function startSlowPath(options: SlowPathOptions): SlowPath {
  const opts: Required<SlowPathOptions> = { queueBytes: 1024 * 1024, ...options };
  const delivered = { up: 0, down: 0 };
  let marks: { bytes: number; resolve: (at: number) => void }[] = [];
  const conns = new Set<Conn>();
  const countUp = (n: number): void => {
    delivered.up += n;
    if (marks.some((m) => delivered.up >= m.bytes)) {
      const now = performance.now();
      for (const m of marks) if (delivered.up >= m.bytes) m.resolve(now);
      marks = marks.filter((m) => delivered.up < m.bytes);
    }
  };
  const listener: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const conn: Conn = {
          client,
          target: undefined,
          up: undefined as unknown as Direction,
          down: undefined as unknown as Direction,
        };
        conn.up = new Direction(opts, () => conn.client, countUp);
        conn.down = new Direction(opts, () => conn.target, (n) => (delivered.down += n));
        conn.down.to = client as Socket<unknown>;
        client.data = conn;
        conns.add(conn);
        // Until the target is connected, what the client sends waits in the delay line.
        void Bun.connect({
          hostname: opts.target.host,
          port: opts.target.port,
          socket: {
            open(target) {
              conn.target = target;
              conn.up.to = target;
              conn.up.drain();
              if (conn.down.paused) target.pause();
            },
            data(_target, data) {
              conn.down.push(data);
            },
            drain() {
              conn.up.drain();
            },
            close() {
              conn.down.end();
            },
            error() {},
          },
        }).catch(() => client.end());
      },
      data(client, data) {
        client.data.up.push(data);
      },
      drain(client) {
        client.data.down.drain();
      },
      close(client) {
        client.data.up.end();
        conns.delete(client.data);
      },
      error() {},
    },
  });
  return {
    port: listener.port,
    delivered,
    reached(bytes: number): Promise<number> {
      if (delivered.up >= bytes) return Promise.resolve(performance.now());
      return new Promise((resolve) => marks.push({ bytes, resolve }));
    },
    stop(): void {
      listener.stop(true);
      for (const c of conns) {
        c.up.close();
        c.down.close();
        c.client.end();
        c.target?.end();
      }
      conns.clear();
    },
  };
}
