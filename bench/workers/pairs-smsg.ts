// Load generator for the relay message rate (figure 1): pairs of logged-in
// protocol clients in this one process; each sender keeps 8 transfers open (the relay's
// per-session limit) of 1 KiB messages sealed before the timed window, and each recipient
// answers every message with an ACK, as the real client does after storing it.
//
// Sealing is the sender's cost, measured apart (the "seal" row): here a pair seals a pool
// of 16 messages once and sends them round-robin, each id at most once in flight; to the
// relay, which never sees inside, they are indistinguishable from fresh ones. Recipients ACK
// on arrival without opening (opening costs what sealing does) and send a zero receipt:
// the relay forwards ACKs without reading them.
//
// The generator must cost less than the relay it measures, so after login it
// decodes nothing: the pool's SEND and CHUNK are encoded once, as BATCH items (SPEC.md §4.4),
// and whatever the window frees is sent as one record of those bytes; a read record is
// decrypted (it must be: the ids are inside) and only its items' type bytes are looked at,
// with a CHUNK's id for its pre-encoded ACK. Every ACK a record asks for leaves in one record.
// The soak's paced worker (soak-pairs.ts) reuses the pairs' setup from here.

import { BareClient } from "../lib/bare-client.ts";
import { loginKey, type BenchUser } from "../lib/users.ts";
import { RateWindow, servePairs } from "./rate-window.ts";
import { encodeHeader, sealEnvelopeKey } from "../../src/protocol/envelope.ts";
import { RECEIPT_LEN, T, encodeMessage, type Message, type SignedSessionKey } from "../../src/protocol/messages.ts";
import { StreamSealer } from "../../src/protocol/stream.ts";
import { randomBytes, type KeyPair } from "../../src/protocol/primitives.ts";

export interface PairsSmsgConfig {
  t: "config";
  host: string;
  port: number;
  /** The recipients' relay port when it is another node of a cluster (bench/figures/cluster.ts). */
  rxPort?: number;
  pairs: { sender: BenchUser; recipient: BenchUser; ids?: Uint8Array[] }[];
  identity: { seed: string; pub: string };
  bodyBytes: number;
  window: number;
}

export const POOL = 16;
export const ZERO_RECEIPT = new Uint8Array(RECEIPT_LEN);
export const BATCH = Uint8Array.of(T.batch);
/** A CHUNK's id follows its type byte (SPEC.md §4). */
const ID_AT = 1;

export interface Pair {
  sender: BenchUser;
  recipient: BenchUser;
  tx?: BareClient;
  rx?: BareClient;
  /** The pool's SEND and CHUNK items back to back, slot after slot: a run of slots is one view. */
  items: Uint8Array;
  /** Where slot i's items start in `items` (POOL + 1 entries). */
  itemAt: number[];
  /** Each slot's ACK as a BATCH item. */
  acks: Uint8Array[];
  /** Each slot's message id: kept when a pair is set up again, so that a resend is the same message. */
  ids: Uint8Array[];
  sentAt: Float64Array;
  next: number;
  inflight: number;
}

const win = new RateWindow();
let windowSize = 8;

/** A pool message's slot: the first 4 bytes of its id. */
export function slotOf(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** What the window has room for, as one record: a BATCH of the next slots' SEND and CHUNK. */
function pump(p: Pair): void {
  if (!win.running) return;
  const n = windowSize - p.inflight;
  if (n <= 0) return;
  const now = performance.now();
  const first = p.next;
  for (let k = 0; k < n; k++) p.sentAt[(first + k) % POOL] = now;
  p.next = (first + n) % POOL;
  p.inflight += n;
  const parts: Uint8Array[] = [BATCH];
  if (first + n <= POOL) parts.push(p.items.subarray(p.itemAt[first]!, p.itemAt[first + n]!));
  else parts.push(p.items.subarray(p.itemAt[first]!), p.items.subarray(0, p.itemAt[first + n - POOL]!));
  let length = 0;
  for (const b of parts) length += b.length;
  p.tx!.sendPlaintext(parts, length);
}

/** Each message of a transport plaintext (one, or a BATCH's items): where it starts and ends. */
function eachItem(plain: Uint8Array, f: (at: number, end: number) => void): void {
  if (plain[0] !== T.batch) return f(0, plain.length);
  for (let off = 1; off + 2 <= plain.length; ) {
    const n = (plain[off]! << 8) | plain[off + 1]!;
    f(off + 2, off + 2 + n);
    off += 2 + n;
  }
}

/** A BATCH item: u16 length, then the message. */
function item(m: Message): Uint8Array {
  const b = encodeMessage(m);
  const out = new Uint8Array(2 + b.length);
  out[0] = b.length >>> 8;
  out[1] = b.length & 0xff;
  out.set(b, 2);
  return out;
}

export async function setup(c: PairsSmsgConfig): Promise<Pair[]> {
  windowSize = c.window;
  const identity = { seed: new Uint8Array(Buffer.from(c.identity.seed, "hex")), publicKey: new Uint8Array(Buffer.from(c.identity.pub, "hex")) };
  const pairs: Pair[] = c.pairs.map((x) => ({ ...x, items: new Uint8Array(0), itemAt: [], acks: [], ids: x.ids ?? [], sentAt: new Float64Array(POOL), next: 0, inflight: 0 }));
  for (const p of pairs) {
    p.rx = await BareClient.login({ host: c.host, port: c.rxPort ?? c.port, user: p.recipient.user, login: loginKey(p.recipient) });
    p.tx = await BareClient.login({ host: c.host, port: c.port, user: p.sender.user, login: loginKey(p.sender) });
    const rxKey = await p.rx.publish(identity);
    const txKey = await p.tx.publish(identity);
    // The relay routes SEND only to a key it has: ask for it, as the real sender does.
    const key = await getKey(p.tx, p.recipient.user, rxKey.key.sessionPub);
    await sealPool(p, txKey.session, txKey.key, key, c.bodyBytes);
    const rx = p.rx;
    rx.handlers = {
      onPlaintext: (plain) => {
        const answer: Uint8Array[] = [BATCH];
        let length = 1;
        eachItem(plain, (at) => {
          if (plain[at] !== T.chunk) return; // a DELIVER: its CHUNK follows
          const slot = slotOf(plain, at + ID_AT);
          win.arrived(p.sentAt[slot]!);
          answer.push(p.acks[slot]!);
          length += p.acks[slot]!.length;
        });
        if (answer.length > 1) rx.sendPlaintext(answer, length);
      },
    };
    p.tx.handlers = {
      onPlaintext: (plain) => {
        let n = 0;
        eachItem(plain, (at) => {
          const t = plain[at];
          if (t === T.ack) n++;
          else if (t === T.sendFailed) {
            if (win.failures++ < 3) console.error("sendFailed", plain[at + ID_AT + 16]);
            n++;
          }
        });
        if (n === 0) return;
        p.inflight -= n;
        pump(p);
      },
    };
  }
  return pairs;
}

export function getKey(tx: BareClient, user: string, expect: Uint8Array): Promise<SignedSessionKey> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const ask = () => tx.post({ t: "getKey", req: ++tries, user });
    tx.handlers = {
      onMessage: (m: Message) => {
        if (m.t !== "key") return;
        if (m.status === "online" && m.key && Buffer.from(m.key.sessionPub).equals(Buffer.from(expect))) resolve(m.key);
        else if (tries > 200) reject(new Error(`${user} never came online at the relay`));
        else setTimeout(ask, 10);
      },
    };
    ask();
  });
}

export async function sealPool(p: Pair, session: KeyPair, senderKey: SignedSessionKey, recipient: SignedSessionKey, bodyBytes: number): Promise<void> {
  const items: Uint8Array[] = [];
  p.acks = [];
  for (let slot = 0; slot < POOL; slot++) {
    let id = p.ids[slot];
    if (!id) {
      id = randomBytes(16);
      new DataView(id.buffer).setUint32(0, slot);
      p.ids[slot] = id;
    }
    const hex = Buffer.from(id).toString("hex");
    const { enc, kemCiphertext, streamKey } = await sealEnvelopeKey({
      id,
      from: p.sender.user,
      to: p.recipient.user,
      senderSessionSecret: session.secretKey,
      recipientSessionPub: recipient.sessionPub,
      recipientSessionKemPub: recipient.sessionKemPub,
    });
    const plain = encodeHeader({ v: 1, id: hex, from: p.sender.user, to: [p.recipient.user], date: Date.now(), subject: "bench", body: "x".repeat(bodyBytes), attachments: [] });
    const data = new StreamSealer(streamKey).seal(plain, true);
    items.push(item({ t: "send", id, to: p.recipient.user, size: data.length, senderKey, recipientSessionPub: recipient.sessionPub, enc, kemCiphertext }));
    items.push(item({ t: "chunk", id, seq: 0, last: true, data }));
    p.acks.push(item({ t: "ack", id, status: "stored", receipt: ZERO_RECEIPT }));
  }
  p.itemAt = [0];
  for (let slot = 0; slot < POOL; slot++) p.itemAt.push(p.itemAt[slot]! + items[2 * slot]!.length + items[2 * slot + 1]!.length);
  p.items = Buffer.concat(items);
}

// Run as a worker; imported (by soak-pairs.ts) it only lends its setup.
if (import.meta.main) {
  servePairs<PairsSmsgConfig, Pair>(win, {
    setup,
    pump,
    end: (p) => {
      p.tx?.close();
      p.rx?.close();
    },
  });
}
