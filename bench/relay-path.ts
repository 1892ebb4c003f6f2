// Where the relay's CPU per routed message goes (bench/README.md, "Relay CPU per message"):
// the codec path of the relay figure's traffic run in one process over no socket. A sender's
// record of 8 SEND+CHUNK (1 KiB) is framed, opened, each message keyed by its id and passed on
// as DELIVER+CHUNK in one sealed record; the recipient's record of 8 ACKs likewise back. Not
// part of `npm run bench`: a tool to compare a cut with what it replaces in the same run.
//
// usage: bun bench/relay-path.ts [ROUNDS_OF_8] [RUNS]
//
// Each variant runs RUNS times, alternating with the others, and its least CPU time is kept:
// on a shared machine the least is the figure other processes disturbed least.

import { CipherState } from "../src/protocol/noise.ts";
import { Transport, encode, encoded } from "../src/protocol/transport.ts";
import { RecordDecoder, recordHeader } from "../src/protocol/framing.ts";
import { decodeTransportPlaintext, idHex, SendInPlace, type Message, type MessageOf, type SignedSessionKey } from "../src/protocol/messages.ts";
import { MLKEM768_CT_LENGTH, MLKEM768_EK_LENGTH } from "../src/protocol/mlkem.ts";
import type { Writer } from "../src/protocol/codec.ts";
import { randomBytes } from "../src/protocol/primitives.ts";

const rounds = Number(process.argv[2] ?? 2000);
const runs = Number(process.argv[3] ?? 7);
const BATCH = 8;

function pair(): { tx: Transport; rx: Transport } {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const cs = (k: Uint8Array) => {
    const c = new CipherState();
    c.initializeKey(k);
    return c;
  };
  return { tx: new Transport({ send: cs(k1), receive: cs(k2) }), rx: new Transport({ send: cs(k2), receive: cs(k1) }) };
}

const published: SignedSessionKey = { identityPub: randomBytes(32), sessionPub: randomBytes(32), sessionKemPub: randomBytes(MLKEM768_EK_LENGTH), issuedAt: 1_700_000_000_000, sig: randomBytes(64) };

function sendOf(i: number): MessageOf<"send"> {
  const id = randomBytes(16);
  id[0] = i;
  return {
    t: "send",
    id,
    to: "bob",
    size: 1040,
    senderKey: { ...published },
    recipientSessionPub: randomBytes(32),
    enc: randomBytes(32),
    kemCiphertext: randomBytes(MLKEM768_CT_LENGTH),
  };
}

/** A sealed record as one socket read hands it over (length, then body, in a Buffer). */
function framed(parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([recordHeader(body.length), body]);
}

type Variant = (m: Message, bytes: Uint8Array) => Writer;

/** The loop bytesEqual was: the relay compares each SEND's sender key with the published one. */
function loopEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function keyCheck(equal: (a: Uint8Array, b: Uint8Array) => boolean, published: SignedSessionKey, k: SignedSessionKey): void {
  const same = equal(published.identityPub, k.identityPub) && equal(published.sessionPub, k.sessionPub) && equal(published.sessionKemPub, k.sessionKemPub) && equal(published.sig, k.sig);
  if (!same) throw new Error("keys differ");
}

const variants: Record<string, Variant> = {
  // What the relay did: every message decoded into copies, then encoded again from its
  // fields; the sender key compared in a loop; a SEND's id printed as hex twice.
  before: (m) => {
    if (m.t !== "send") return encode(m);
    keyCheck(loopEqual, published, m.senderKey);
    idHex(m.id);
    return encode({ t: "deliver", id: m.id, from: "alice", size: m.size, senderKey: m.senderKey, recipientSessionPub: m.recipientSessionPub, enc: m.enc, kemCiphertext: m.kemCiphertext });
  },
  // What it does now: decoded (to check and route; a SEND as a SendInPlace, its key compared
  // where it lies), passed on as it came; DELIVER spliced.
  after: (m, bytes) => {
    if (m.t !== "send") return encoded(bytes);
    if (!(m instanceof SendInPlace) || !m.sentWith(published)) throw new Error("keys differ");
    return m.deliver("alice").encoded;
  },
};

/** A run's traffic, sealed beforehand: the sender's records and the recipient's, as read. */
function traffic() {
  const a = pair(); // a.tx: the sender's side, a.rx: the relay's side of it
  const b = pair(); // b.tx: the recipient's side
  const fromA: Buffer[] = [];
  const fromB: Buffer[] = [];
  for (let r = 0; r < rounds; r++) {
    const items: Writer[] = [];
    const acks: Writer[] = [];
    for (let i = 0; i < BATCH; i++) {
      const s = sendOf(i);
      items.push(encode(s), encode({ t: "chunk", id: s.id, seq: 0, last: true, data: randomBytes(1040) }));
      acks.push(encode({ t: "ack", id: s.id, status: "stored", receipt: randomBytes(32) }));
    }
    fromA.push(...a.tx.sealAll(items).map(framed));
    fromB.push(...b.tx.sealAll(acks).map(framed));
  }
  return { a, b, fromA, fromB };
}

const PHASES = ["frame", "decrypt", "decode", "route", "seal"] as const;
type Phases = Record<(typeof PHASES)[number], number>;

/**
 * One run: rounds of (8 SEND+CHUNK in, DELIVER+CHUNK out; 8 ACK in, 8 ACK out); the relay's
 * CPU per message, and with `phases` where it went (the clock read between steps, which adds
 * its own cost to the total).
 */
function run(variant: Variant, phases?: Phases): number {
  const { a, b, fromA, fromB } = traffic();
  const decA = new RecordDecoder();
  const decB = new RecordDecoder();
  const keys = new Map<string, number>();
  let out = 0;
  const clock = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  let at = 0;
  const lap = (phase: keyof Phases) => {
    if (!phases) return;
    const now = clock();
    phases[phase] += now - at;
    at = now;
  };
  const t0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) {
    for (const [dec, read, relay, reply] of [
      [decA, fromA[r]!, a.rx, b.rx],
      [decB, fromB[r]!, b.rx, a.rx],
    ] as const) {
      const items: Writer[] = [];
      if (phases) at = clock();
      const records = dec.push(read);
      lap("frame");
      for (const record of records) {
        const bytes: Uint8Array[] = [];
        const plaintext = relay.receive.decryptWithAd(new Uint8Array(0), record);
        lap("decrypt");
        // The old path decoded every field into a copy (no items); the new one in place.
        const ms = variant === variants.before ? decodeTransportPlaintext(plaintext) : decodeTransportPlaintext(plaintext, bytes);
        lap("decode");
        for (let i = 0; i < ms.length; i++) {
          const m = ms[i]!;
          if (m.t === "send" || m.t === "chunk" || m.t === "ack") keys.set(idHex(m.id), r);
          items.push(variant(m, bytes[i]!));
        }
        lap("route");
      }
      for (const rec of reply.sealAll(items)) out += rec.length;
      lap("seal");
    }
    if (keys.size > 1000) keys.clear();
  }
  const d = process.cpuUsage(t0);
  if (out === 0) throw new Error("nothing sealed");
  return (d.user + d.system) / (rounds * BATCH);
}

const best = new Map<string, number[]>();
for (const name of Object.keys(variants)) run(variants[name]!); // warm-up
for (let i = 0; i < runs; i++) {
  for (const [name, v] of Object.entries(variants)) {
    const list = best.get(name) ?? [];
    list.push(run(v));
    best.set(name, list);
  }
}
for (const [name, list] of best) {
  const sorted = [...list].sort((x, y) => x - y);
  console.log(`${name.padEnd(8)} least ${sorted[0]!.toFixed(2)} us, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} us CPU per message (runs: ${list.map((x) => x.toFixed(2)).join(" ")})`);
}

// Where "after" spends it, least of RUNS runs per step.
const least = Object.fromEntries(PHASES.map((p) => [p, Infinity])) as Phases;
for (let i = 0; i < runs; i++) {
  const phases = Object.fromEntries(PHASES.map((p) => [p, 0])) as Phases;
  run(variants.after!, phases);
  for (const p of PHASES) least[p] = Math.min(least[p], phases[p] / (rounds * BATCH));
}
console.log(`after, by step (us per message): ${PHASES.map((p) => `${p} ${least[p].toFixed(2)}`).join(", ")}`);
