// Load generator for the plain TCP forwarder baseline: the same pairs, payload and window
// as pairs-smsg.ts, as length-prefixed frames (u32 length, then the payload) through
// bench/servers/tcp-forwarder.ts; the recipient answers each with an 8-byte
// acknowledgement frame that frees one of the sender's slots.
//
// The generator must cost less than what it measures (issue 15): nothing is parsed. Every
// frame has the same length, so each end counts bytes, and the frames a read completes are
// answered by one write of that many pre-built frames. The forwarder keeps each direction
// in order, so message n is the n-th frame to arrive, and its sending time is found by its
// number in a ring as deep as the window (no more than that many are ever in flight).

import type { Socket } from "bun";
import { ByteWriter } from "../lib/byte-writer.ts";
import { RateWindow, pumpWindow, servePairs } from "./rate-window.ts";

export interface PairsTcpConfig {
  t: "config";
  host: string;
  port: number;
  first: number;
  pairs: number;
  payloadBytes: number;
  window: number;
}

const ACK_LEN = 8;
const win = new RateWindow();
let windowSize = 8;
/** `window` message frames back to back, and as many acknowledgements: every write is a prefix. */
let frames = new Uint8Array(0);
let acks = new Uint8Array(0);
let frameLen = 0;

/** Counts whole units of `unit` bytes in a stream of reads. */
class Counter {
  #carry = 0;
  constructor(readonly unit: number) {}
  push(bytes: number): number {
    const total = this.#carry + bytes;
    this.#carry = total % this.unit;
    return (total - this.#carry) / this.unit;
  }
}

interface Pair {
  tx: ByteWriter;
  rx: ByteWriter;
  sentAt: Float64Array; // by message number modulo the window
  sent: number;
  arrived: number;
  inflight: number;
}

function pump(p: Pair): void {
  pumpWindow(win, p, frames, frameLen);
}

type Data = { count: Counter; onUnits: (n: number) => void; out?: ByteWriter };

async function open(host: string, port: number, side: number, pair: number, unit: number, onUnits: (n: number) => void): Promise<ByteWriter> {
  const s = await Bun.connect<Data>({
    hostname: host,
    port,
    data: { count: new Counter(unit), onUnits },
    socket: {
      data: (sock, d) => {
        const n = sock.data.count.push(d.length);
        if (n > 0) sock.data.onUnits(n);
      },
      drain: (sock) => sock.data.out?.drain(),
    },
  });
  const out = new ByteWriter(s as Socket<unknown>);
  s.data.out = out;
  const hello = Buffer.alloc(5);
  hello[0] = side;
  hello.writeUInt32BE(pair, 1);
  out.write(hello);
  return out;
}

async function setup(c: PairsTcpConfig): Promise<Pair[]> {
  windowSize = c.window;
  frameLen = 4 + c.payloadBytes;
  const f = Buffer.alloc(frameLen * windowSize, 0x78);
  const a = Buffer.alloc(ACK_LEN * windowSize, 0);
  for (let k = 0; k < windowSize; k++) {
    f.writeUInt32BE(c.payloadBytes, k * frameLen);
    a.writeUInt32BE(ACK_LEN - 4, k * ACK_LEN);
  }
  frames = f;
  acks = a;
  const pairs: Pair[] = [];
  for (let i = 0; i < c.pairs; i++) {
    const p = { sentAt: new Float64Array(windowSize), sent: 0, arrived: 0, inflight: 0 } as unknown as Pair;
    p.rx = await open(c.host, c.port, 1, c.first + i, frameLen, (n) => {
      win.arrivedMany(n, p.sentAt, p.arrived);
      p.arrived += n;
      // n <= window: the sender never has more in flight.
      p.rx.write(acks.subarray(0, n * ACK_LEN));
    });
    p.tx = await open(c.host, c.port, 0, c.first + i, ACK_LEN, (n) => {
      p.inflight -= n;
      pump(p);
    });
    pairs.push(p);
  }
  return pairs;
}

servePairs<PairsTcpConfig, Pair>(win, {
  setup,
  pump,
});
