// Load generator for the mosquitto baseline of the relay message rate: the same pairs,
// payload and window as pairs-smsg.ts, over MQTT 3.1.1 with TLS. The smsg relay forwards
// without storing and the recipient's ACK travels back through it; the faithful MQTT
// equivalent is QoS 0 (forwarded, not stored) with the subscriber publishing an
// acknowledgement on a reply topic, which frees the sender's slot.
//
// The generator must cost less than the broker it measures (issue 15), so it is not the npm
// `mqtt` client, which parses every packet into an object: each side writes its CONNECT and
// SUBSCRIBE and checks the CONNACK and SUBACK (MQTT 3.1.1 §3.2, §3.9), and from then on
// every packet it gets is a QoS 0 PUBLISH on its one topic, all of one size, so it counts
// bytes. What a read completes is answered by one write of pre-built PUBLISH packets; the
// broker keeps one publisher's QoS 0 messages to one subscriber in order, so message n is
// the n-th to arrive and its sending time is found by its number in a ring as deep as the
// window.

import { readFileSync } from "node:fs";
import type { Socket } from "bun";
import { ByteWriter } from "../lib/byte-writer.ts";
import { RateWindow, pumpWindow, servePairs } from "./rate-window.ts";

export interface PairsMqttConfig {
  t: "config";
  url: string;
  caFile: string;
  first: number; // index of this worker's first pair, for unique topics and client ids
  pairs: number;
  payloadBytes: number;
  window: number;
}

interface Pair {
  tx: ByteWriter;
  rx: ByteWriter;
  txSock: Socket<Conn>;
  rxSock: Socket<Conn>;
  /** `window` PUBLISH packets of a message (to tx) or of an acknowledgement (to rx), back to back. */
  msgs: Uint8Array;
  acks: Uint8Array;
  msgLen: number;
  ackLen: number;
  sentAt: Float64Array;
  sent: number;
  arrived: number;
  inflight: number;
}

const ACK_PAYLOAD = 4;
const win = new RateWindow();
let windowSize = 8;

/** MQTT's remaining length (§2.2.3): 7 bits a byte, least significant first. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function packet(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, ...varint(body.length)]), body]);
}

function connectPacket(clientId: string): Buffer {
  // "MQTT", level 4, clean session, keep-alive 60 s, then the client id.
  return packet(0x10, Buffer.concat([str("MQTT"), Buffer.from([4, 0x02, 0, 60]), str(clientId)]));
}

function subscribePacket(topic: string): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(topic), Buffer.from([0])]));
}

function publishPacket(topic: string, payload: Buffer): Buffer {
  return packet(0x30, Buffer.concat([str(topic), payload]));
}

/** A PUBLISH packet repeated n times. */
function repeated(p: Buffer, n: number): Uint8Array {
  return Buffer.concat(Array.from({ length: n }, () => p));
}

/** CONNACK accepted, then SUBACK granting QoS 0 to packet id 1: all that comes before the PUBLISHes. */
const SETUP_REPLY = Buffer.from([0x20, 0x02, 0x00, 0x00, 0x90, 0x03, 0x00, 0x01, 0x00]);

type Conn = {
  setup: Uint8Array; // the setup reply as far as it came
  ready: () => void;
  fail: (e: Error) => void;
  unit: number;
  carry: number;
  onUnits: (n: number) => void;
  out?: ByteWriter;
};

function count(c: Conn, bytes: number): void {
  const total = c.carry + bytes;
  c.carry = total % c.unit;
  const n = (total - c.carry) / c.unit;
  if (n > 0) c.onUnits(n);
}

async function open(url: URL, ca: Buffer, clientId: string, topic: string, unit: number, onUnits: (n: number) => void): Promise<{ out: ByteWriter; sock: Socket<Conn> }> {
  let ready!: () => void;
  let fail!: (e: Error) => void;
  const subscribed = new Promise<void>((res, rej) => ((ready = res), (fail = rej)));
  const sock = await Bun.connect<Conn>({
    hostname: url.hostname,
    port: Number(url.port),
    tls: { ca },
    data: { setup: new Uint8Array(0), ready, fail, unit, carry: 0, onUnits },
    socket: {
      data: (s, d) => {
        const c = s.data;
        if (c.setup.length < SETUP_REPLY.length) {
          const all = Buffer.concat([c.setup, d]);
          c.setup = all.subarray(0, Math.min(all.length, SETUP_REPLY.length));
          if (!SETUP_REPLY.subarray(0, c.setup.length).equals(c.setup)) {
            c.fail(new Error(`${clientId}: unexpected CONNACK/SUBACK ${Buffer.from(c.setup).toString("hex")}`));
            return;
          }
          if (c.setup.length < SETUP_REPLY.length) return;
          c.ready();
          if (all.length > SETUP_REPLY.length) count(c, all.length - SETUP_REPLY.length);
          return;
        }
        count(c, d.length);
      },
      drain: (s) => s.data.out?.drain(),
      close: (s) => s.data.fail(new Error(`${clientId}: closed by the broker`)),
      error: (s, e) => s.data.fail(e),
    },
  });
  const out = new ByteWriter(sock as Socket<unknown>);
  sock.data.out = out;
  out.write(Buffer.concat([connectPacket(clientId), subscribePacket(topic)]));
  await subscribed;
  return { out, sock };
}

function pump(p: Pair): void {
  pumpWindow(win, p, p.msgs, p.msgLen);
}

async function setup(c: PairsMqttConfig): Promise<Pair[]> {
  windowSize = c.window;
  const ca = readFileSync(c.caFile);
  const url = new URL(c.url);
  const pairs: Pair[] = [];
  for (let i = 0; i < c.pairs; i++) {
    const n = c.first + i;
    const msgTopic = `bench/${n}/m`;
    const ackTopic = `bench/${n}/a`;
    const msg = publishPacket(msgTopic, Buffer.alloc(c.payloadBytes, 0x78));
    const ack = publishPacket(ackTopic, Buffer.alloc(ACK_PAYLOAD, 0));
    const p = {
      msgs: repeated(msg, windowSize),
      acks: repeated(ack, windowSize),
      msgLen: msg.length,
      ackLen: ack.length,
      sentAt: new Float64Array(windowSize),
      sent: 0,
      arrived: 0,
      inflight: 0,
    } as unknown as Pair;
    // The recipient subscribes first, so the sender's first message has somewhere to go.
    const rx = await open(url, ca, `bench-rx-${n}`, msgTopic, msg.length, (k) => {
      win.arrivedMany(k, p.sentAt, p.arrived);
      p.arrived += k;
      // k <= window: the sender never has more in flight.
      p.rx.write(p.acks.subarray(0, k * p.ackLen));
    });
    p.rx = rx.out;
    p.rxSock = rx.sock;
    const tx = await open(url, ca, `bench-tx-${n}`, ackTopic, ack.length, (k) => {
      p.inflight -= k;
      pump(p);
    });
    p.tx = tx.out;
    p.txSock = tx.sock;
    pairs.push(p);
  }
  return pairs;
}

servePairs<PairsMqttConfig, Pair>(win, {
  setup,
  pump,
  end: (p) => {
    // The broker closing them is expected now.
    p.txSock.data.fail = () => {};
    p.rxSock.data.fail = () => {};
    p.txSock.end();
    p.rxSock.end();
  },
});
