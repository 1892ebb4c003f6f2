// Load generator for the relay message rate (issue 6, figure 1): pairs of logged-in
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
// The soak's paced worker (soak-pairs.ts) reuses the pairs' setup from here.

import { BareClient } from "../lib/bare-client.ts";
import { loginKey, type BenchUser } from "../lib/users.ts";
import { RateWindow, servePairs } from "./rate-window.ts";
import { encodeHeader, sealEnvelopeKey } from "../../src/protocol/envelope.ts";
import { RECEIPT_LEN, type Message, type MessageOf, type SignedSessionKey } from "../../src/protocol/messages.ts";
import { StreamSealer } from "../../src/protocol/stream.ts";
import { randomBytes, type KeyPair } from "../../src/protocol/primitives.ts";

export interface PairsSmsgConfig {
  t: "config";
  host: string;
  port: number;
  pairs: { sender: BenchUser; recipient: BenchUser }[];
  identity: { seed: string; pub: string };
  bodyBytes: number;
  window: number;
}

export const POOL = 16;
export const ZERO_RECEIPT = new Uint8Array(RECEIPT_LEN);

export interface Pair {
  sender: BenchUser;
  recipient: BenchUser;
  tx?: BareClient;
  rx?: BareClient;
  pool: { send: MessageOf<"send">; chunk: MessageOf<"chunk"> }[];
  sentAt: Float64Array;
  next: number;
  inflight: number;
}

const win = new RateWindow();
let windowSize = 8;

export function slotOf(id: Uint8Array): number {
  return ((id[0]! << 24) | (id[1]! << 16) | (id[2]! << 8) | id[3]!) >>> 0;
}

function pump(p: Pair): void {
  while (win.running && p.inflight < windowSize) {
    const slot = p.next;
    p.next = (p.next + 1) % POOL;
    const m = p.pool[slot]!;
    p.sentAt[slot] = performance.now();
    p.inflight++;
    p.tx!.post(m.send);
    p.tx!.post(m.chunk);
  }
}

export async function setup(c: PairsSmsgConfig): Promise<Pair[]> {
  windowSize = c.window;
  const identity = { seed: new Uint8Array(Buffer.from(c.identity.seed, "hex")), publicKey: new Uint8Array(Buffer.from(c.identity.pub, "hex")) };
  const pairs: Pair[] = c.pairs.map((x) => ({ ...x, pool: [], sentAt: new Float64Array(POOL), next: 0, inflight: 0 }));
  for (const p of pairs) {
    p.rx = await BareClient.login({ host: c.host, port: c.port, user: p.recipient.user, login: loginKey(p.recipient) });
    p.tx = await BareClient.login({ host: c.host, port: c.port, user: p.sender.user, login: loginKey(p.sender) });
    const rxKey = p.rx.publish(identity);
    const txKey = p.tx.publish(identity);
    // The relay routes SEND only to a key it has: ask for it, as the real sender does.
    const key = await getKey(p.tx, p.recipient.user, rxKey.key.sessionPub);
    p.pool = sealPool(p, txKey.session, txKey.key, key, c.bodyBytes);
    const rx = p.rx;
    rx.handlers = {
      onMessage: (m) => {
        if (m.t === "chunk") {
          win.arrived(p.sentAt[slotOf(m.id)]!);
          rx.post({ t: "ack", id: m.id, status: "stored", receipt: ZERO_RECEIPT });
        }
      },
    };
    p.tx.handlers = {
      onMessage: (m) => {
        if (m.t === "ack") {
          p.inflight--;
          pump(p);
        } else if (m.t === "sendFailed") {
          if (win.failures++ < 3) console.error("sendFailed", m.reason);
          p.inflight--;
          pump(p);
        }
      },
    };
  }
  return pairs;
}

function getKey(tx: BareClient, user: string, expect: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const ask = () => tx.post({ t: "getKey", req: ++tries, user });
    tx.handlers = {
      onMessage: (m: Message) => {
        if (m.t !== "key") return;
        if (m.status === "online" && m.key && Buffer.from(m.key.sessionPub).equals(Buffer.from(expect))) resolve(m.key.sessionPub);
        else if (tries > 200) reject(new Error(`${user} never came online at the relay`));
        else setTimeout(ask, 10);
      },
    };
    ask();
  });
}

function sealPool(p: Pair, session: KeyPair, senderKey: SignedSessionKey, recipientPub: Uint8Array, bodyBytes: number): Pair["pool"] {
  const pool: Pair["pool"] = [];
  for (let slot = 0; slot < POOL; slot++) {
    const id = randomBytes(16);
    new DataView(id.buffer).setUint32(0, slot);
    const hex = Buffer.from(id).toString("hex");
    const { enc, streamKey } = sealEnvelopeKey({
      id,
      from: p.sender.user,
      to: p.recipient.user,
      senderSessionSecret: session.secretKey,
      recipientSessionPub: recipientPub,
    });
    const plain = encodeHeader({ v: 1, id: hex, from: p.sender.user, to: [p.recipient.user], date: Date.now(), subject: "bench", body: "x".repeat(bodyBytes), attachments: [] });
    const data = new StreamSealer(streamKey).seal(plain, true);
    pool.push({
      send: { t: "send", id, to: p.recipient.user, size: data.length, senderKey, recipientSessionPub: recipientPub, enc },
      chunk: { t: "chunk", id, seq: 0, last: true, data },
    });
  }
  return pool;
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
