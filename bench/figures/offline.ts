// Offline figure: mail that waits at the relay (SPEC.md §12). One sender posts 1 KiB
// messages into an offline recipient's mailbox (8 uploads open, each answered HELD after
// its fsyncs); then the recipient connects and drains them all; then the disk the relay
// used per waiting message. Baselines from this run: the same sender and window sending
// live to the recipient online (SEND, ACK), and the message's own ciphertext size.

import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "../lib/context.ts";
import { freePort } from "../lib/procs.ts";
import { startRelayProcess } from "../lib/relay-process.ts";
import { row, type Row } from "../lib/row.ts";
import { BareClient } from "../lib/bare-client.ts";
import { benchIdentity, loginKey, makeUsers, registerUsers } from "../lib/users.ts";
import { register, startNatsServer } from "./cluster.ts";
import type { ClusterSettings } from "../../src/server/cluster/nats-connect.ts";
import { encodeHeader, sealEnvelopeKey } from "../../src/protocol/envelope.ts";
import { StreamSealer, streamCiphertextSize } from "../../src/protocol/stream.ts";
import { signPrekey } from "../../src/protocol/prekeys.ts";
import { mlkemKeyGen } from "../../src/protocol/mlkem.ts";
import { ed25519PublicKey, randomBytes, x25519Generate } from "../../src/protocol/primitives.ts";
import { RECEIPT_LEN, type Message, type SignedSessionKey } from "../../src/protocol/messages.ts";

const WINDOW = 8; // the relay's uploads (and transfers) per session
const PAYLOAD = 1024;

interface Sealed {
  size: number;
  chunk: Uint8Array;
  enc: Uint8Array;
  kemCiphertext: Uint8Array;
}

/** One 1 KiB message sealed to `to` (a prekey or a session key): one STREAM chunk. */
async function seal(from: string, to: string, senderSecret: Uint8Array, key: SignedSessionKey): Promise<Sealed> {
  const id = randomBytes(16);
  const header = encodeHeader({ v: 1, id: Buffer.from(id).toString("hex"), from, to: [to], date: Date.now(), subject: "bench", body: "x".repeat(PAYLOAD), attachments: [] });
  const s = await sealEnvelopeKey({ id, from, to, senderSessionSecret: senderSecret, recipientSessionPub: key.sessionPub, recipientSessionKemPub: key.sessionKemPub });
  const plain = new Uint8Array(4 + header.length);
  new DataView(plain.buffer).setUint32(0, header.length);
  plain.set(header, 4);
  const chunk = new StreamSealer(s.streamKey).seal(plain, true);
  return { size: streamCiphertextSize(plain.length), chunk, enc: s.enc, kemCiphertext: s.kemCiphertext };
}

/** Send n messages with `kind` ("post" into the mailbox, "send" live), WINDOW open; messages per second. */
function pump(tx: BareClient, kind: "post" | "send", to: string, n: number, senderKey: SignedSessionKey, recipientPub: Uint8Array, m: Sealed, answers: (done: () => void) => void): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    let done = 0;
    const started = performance.now();
    const next = (): void => {
      while (sent < n && sent - done < WINDOW) {
        const id = randomBytes(16); // the relay cannot tell one sealed copy from another
        tx.post({ t: kind, id, to, size: m.size, senderKey, recipientSessionPub: recipientPub, enc: m.enc, kemCiphertext: m.kemCiphertext });
        tx.post({ t: "chunk", id, seq: 0, last: true, data: m.chunk });
        sent++;
      }
    };
    answers(() => {
      done++;
      if (done === n) resolve(n / ((performance.now() - started) / 1000));
      else next();
    });
    next();
  });
}

function diskBytes(dir: string, names: (n: string) => boolean): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !names(join(e.parentPath, e.name))) continue;
    total += statSync(join(e.parentPath, e.name)).blocks * 512;
  }
  return total;
}

export async function offlineRows(ctx: BenchContext): Promise<Row[]> {
  const rows = await offlineRun(ctx, false);
  if (Bun.which("nats-server")) rows.push(...(await offlineRun(ctx, true)));
  else ctx.log("offline: nats-server is not installed: no cluster rows");
  return rows;
}

/**
 * One relay on its own (mailbox.db, fsync), or one node of a cluster on one nats-server
 * (the bucket smsg_mail, one replica: HELD after JetStream's acknowledgement, SPEC.md §12.6).
 */
async function offlineRun(ctx: BenchContext, cluster: boolean): Promise<Row[]> {
  const n = ctx.quick ? 200 : cluster ? 2_000 : 10_000;
  const data = ctx.dir(cluster ? "offline-cluster" : "offline");
  const [sender, recipient] = [...makeUsers("os", 1), ...makeUsers("or", 1)] as const;
  let nats: Awaited<ReturnType<typeof startNatsServer>> | undefined;
  const natsDir = cluster ? ctx.dir("offline-nats") : "";
  let env: Record<string, string> | undefined;
  if (cluster) {
    nats = await startNatsServer(natsDir);
    const base: ClusterSettings = { servers: [nats.url], user: "smsg", passwordFile: nats.passwordFile, replicas: 1 };
    await register(base, [sender!, recipient!]);
    env = { BENCH_CLUSTER: JSON.stringify({ ...base, node: "a" }) };
  } else registerUsers(data, [sender!, recipient!]);
  const relay = await startRelayProcess({ dataDir: data, port: freePort(), env });
  const seed = new Uint8Array(Buffer.from(benchIdentity().seed, "hex"));
  const identity = { seed, publicKey: ed25519PublicKey(seed) };
  try {
    let onTx: (m: Message) => void = () => {};
    let onRx: (m: Message) => void = () => {};
    const tx = await BareClient.login({ host: "127.0.0.1", port: relay.port, user: sender!.user, login: loginKey(sender!), handlers: { onMessage: (m) => onTx(m) } });
    const txKey = await tx.publish(identity);
    const rxLogin = () => BareClient.login({ host: "127.0.0.1", port: relay.port, user: recipient!.user, login: loginKey(recipient!), handlers: { onMessage: (m) => onRx(m) } });

    // Baseline: live, the recipient online and ACKing every message as it arrives.
    let rx = await rxLogin();
    const rxKey = await rx.publish(identity);
    // The recipient's signed prekey, published as its client does (SPEC.md §12.1).
    const pre = x25519Generate();
    const preKem = await mlkemKeyGen();
    const now = Date.now();
    const prekey: SignedSessionKey = { identityPub: identity.publicKey, sessionPub: pre.publicKey, sessionKemPub: preKem.encapsulationKey, issuedAt: now, sig: signPrekey("signed", identity.seed, recipient!.user, pre.publicKey, preKem.encapsulationKey, now) };
    rx.post({ t: "publishPrekeys", signed: prekey, replace: true, oneTime: [] });
    const zero = new Uint8Array(RECEIPT_LEN);
    onRx = (m) => {
      if (m.t === "chunk" && m.last) rx.post({ t: "ack", id: m.id, status: "stored", receipt: zero });
    };
    const live = await seal(sender!.user, recipient!.user, txKey.session.secretKey, rxKey.key);
    const liveRate = await pump(tx, "send", recipient!.user, n, txKey.key, rxKey.key.sessionPub, live, (done) => (onTx = (m) => m.t === "ack" && done()));
    ctx.log(`offline: live baseline ${liveRate.toFixed(0)} msg/s`);
    rx.close();
    await new Promise((r) => setTimeout(r, 200));

    // Into the mailbox: each HELD only after the file, the row and the folder are synced.
    const waiting = await seal(sender!.user, recipient!.user, txKey.session.secretKey, prekey);
    const postRate = await pump(tx, "post", recipient!.user, n, txKey.key, prekey.sessionPub, waiting, (done) => (onTx = (m) => {
      if (m.t === "held") done();
      else if (m.t === "sendFailed") throw new Error(`POST refused: ${m.reason}`);
    }));
    ctx.log(`offline: ${postRate.toFixed(0)} msg/s into the mailbox`);
    const disk = cluster
      ? diskBytes(natsDir, (f) => f.includes("KV_smsg_mail"))
      : diskBytes(data, (f) => f.includes(`${join(data, "mailbox")}/`) || /mailbox\.db(-wal|-shm)?$/.test(f));

    // Drain: the recipient connects; everything waiting comes, oldest first, and is ACKed.
    let got = 0;
    const drained = new Promise<number>((resolve) => {
      let started = 0;
      onRx = (m) => {
        if (m.t === "chunk" && m.last) {
          rx.post({ t: "ack", id: m.id, status: "stored", receipt: zero });
          if (++got === n) resolve((performance.now() - started) / 1000);
        }
      };
      void rxLogin().then(async (c) => {
        rx = c;
        started = performance.now();
        await rx.publish(identity);
      });
    });
    const drainS = await drained;
    ctx.log(`offline: ${n} drained in ${drainS.toFixed(2)} s`);
    tx.close();
    rx.close();
    const label = n.toLocaleString("en-US");
    if (cluster)
      return [
        row({ name: "offline (cluster, 1 nats-server): 1 KiB messages/s into a waiting mailbox (HELD after JetStream's ack), 1 sender, 8 open", value: postRate, unit: "msg/s", baseline: { name: "the same sender live through the node", value: liveRate } }),
        row({ name: `offline (cluster): time to drain ${label} waiting 1 KiB messages on connect`, value: drainS, unit: "s", baseline: { name: `${label} at the live rate`, value: n / liveRate } }),
        row({ name: "offline (cluster): JetStream store bytes per waiting 1 KiB message (stream KV_smsg_mail, before the drain)", value: disk / n, unit: "B", baseline: { name: "its ciphertext (DELIVER fields + STREAM)", value: waiting.size + 2498 + recipient!.user.length } }),
      ];
    return [
      row({ name: "offline: 1 KiB messages/s into a waiting mailbox (HELD after fsync), 1 sender, 8 open", value: postRate, unit: "msg/s", baseline: { name: "the same sender live (SEND, ACK)", value: liveRate } }),
      row({ name: `offline: time to drain ${label} waiting 1 KiB messages on connect`, value: drainS, unit: "s", baseline: { name: `${label} at the live rate`, value: n / liveRate } }),
      row({ name: "offline: relay disk bytes per waiting 1 KiB message (file blocks + mailbox.db)", value: disk / n, unit: "B", baseline: { name: "its ciphertext (DELIVER fields + STREAM)", value: waiting.size + 2498 + recipient!.user.length } }),
    ];
  } finally {
    await relay.stop();
    nats?.child.stop();
  }
}
