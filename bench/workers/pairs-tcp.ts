// Load generator for the plain TCP forwarder baseline: the same pairs, payload and window
// as pairs-smsg.ts, as length-prefixed frames (u32 length, then the payload whose first 4
// bytes name its slot) through bench/servers/tcp-forwarder.ts; the recipient answers each
// with a 4-byte acknowledgement frame that frees the sender's slot.

import type { Socket } from "bun";
import { ByteWriter } from "../lib/byte-writer.ts";
import { RateWindow, servePairs } from "./rate-window.ts";

export interface PairsTcpConfig {
  t: "config";
  host: string;
  port: number;
  first: number;
  pairs: number;
  payloadBytes: number;
  window: number;
}

const POOL = 16;
const win = new RateWindow();
let windowSize = 8;

/** Splits a byte stream into u32-length-prefixed frames; calls back with each frame's slot. */
class FrameReader {
  #buf = Buffer.alloc(0);
  #onSlot: (slot: number) => void;
  constructor(onSlot: (slot: number) => void) {
    this.#onSlot = onSlot;
  }
  push(d: Uint8Array): void {
    const buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : Buffer.from(d.buffer, d.byteOffset, d.length);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (buf.length - off - 4 < len) break;
      this.#onSlot(buf.readUInt32BE(off + 4));
      off += 4 + len;
    }
    this.#buf = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
  }
}

interface Pair {
  tx: ByteWriter;
  rx: ByteWriter;
  frames: Buffer[];
  acks: Buffer[];
  sentAt: Float64Array;
  next: number;
  inflight: number;
}

function pump(p: Pair): void {
  while (win.running && p.inflight < windowSize) {
    const slot = p.next;
    p.next = (p.next + 1) % POOL;
    p.sentAt[slot] = performance.now();
    p.inflight++;
    p.tx.write(p.frames[slot]!);
  }
}

type Data = { reader: FrameReader; out?: ByteWriter };

async function open(host: string, port: number, side: number, pair: number, onSlot: (slot: number) => void): Promise<ByteWriter> {
  const reader = new FrameReader(onSlot);
  const s = await Bun.connect<Data>({
    hostname: host,
    port,
    data: { reader },
    socket: {
      data: (sock, d) => sock.data.reader.push(d),
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
  const pairs: Pair[] = [];
  for (let i = 0; i < c.pairs; i++) {
    const p = { frames: [], acks: [], sentAt: new Float64Array(POOL), next: 0, inflight: 0 } as unknown as Pair;
    for (let slot = 0; slot < POOL; slot++) {
      const f = Buffer.alloc(4 + c.payloadBytes, 0x78);
      f.writeUInt32BE(c.payloadBytes, 0);
      f.writeUInt32BE(slot, 4);
      p.frames.push(f);
      const a = Buffer.alloc(8);
      a.writeUInt32BE(4, 0);
      a.writeUInt32BE(slot, 4);
      p.acks.push(a);
    }
    p.rx = await open(c.host, c.port, 1, c.first + i, (slot) => {
      win.arrived(p.sentAt[slot]!);
      p.rx.write(p.acks[slot]!);
    });
    p.tx = await open(c.host, c.port, 0, c.first + i, () => {
      p.inflight--;
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
