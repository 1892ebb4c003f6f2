// The sender's own sealing rate (figure 1's "seal" row): per message and
// recipient, the hybrid seal of SPEC.md §5.2 (an ML-KEM-768 encapsulation to the
// recipient's session key, native, then HPKE mode_auth_psk), the exporter's stream and
// receipt keys, the header JSON and its STREAM chunk, for a 1 KiB body, as the outbox does
// it, on one core. Measured apart so that neither it nor the relay's rate hides the other:
// its baseline is the relay's rate from the same run. Beside it, the classical auth-mode
// seal of protocol version 1 in the same run, and the bytes the hybrid adds to a message.

import { encodeHeader, messageInfo, sealEnvelopeKey, LABEL_STREAM_KEY } from "../../src/protocol/envelope.ts";
import { setupAuthS } from "../../src/protocol/hpke.ts";
import { utf8 } from "../../src/protocol/codec.ts";
import { encodeMessage } from "../../src/protocol/messages.ts";
import { mlkemKeyGen, MLKEM768_CT_LENGTH, MLKEM768_EK_LENGTH } from "../../src/protocol/mlkem.ts";
import { StreamSealer } from "../../src/protocol/stream.ts";
import { randomBytes, x25519Generate } from "../../src/protocol/primitives.ts";
import type { BenchContext } from "../lib/context.ts";
import { row, type Row } from "../lib/row.ts";

type Seal = (body: string) => Uint8Array | Promise<Uint8Array>;

function sealed(id: Uint8Array, streamKey: Uint8Array, body: string): Uint8Array {
  const header = encodeHeader({ v: 1, id: Buffer.from(id).toString("hex"), from: "alice", to: ["bob"], date: Date.now(), subject: "bench", body, attachments: [] });
  return new StreamSealer(streamKey).seal(header, true);
}

/** One hybrid seal, as the outbox does it (SPEC.md §5.2). */
export async function sealOnce(senderSecret: Uint8Array, recipientPub: Uint8Array, recipientKemPub: Uint8Array, body: string): Promise<Uint8Array> {
  const id = randomBytes(16);
  const { streamKey } = await sealEnvelopeKey({
    id,
    from: "alice",
    to: "bob",
    senderSessionSecret: senderSecret,
    recipientSessionPub: recipientPub,
    recipientSessionKemPub: recipientKemPub,
  });
  return sealed(id, streamKey, body);
}

/** Version 1's seal, HPKE auth mode on X25519 alone: the comparison, not a code path any more. */
function sealClassical(senderSecret: Uint8Array, recipientPub: Uint8Array, body: string): Uint8Array {
  const id = randomBytes(16);
  const { ctx } = setupAuthS(recipientPub, messageInfo(id, "alice", "bob"), senderSecret);
  return sealed(id, ctx.export(utf8(LABEL_STREAM_KEY), 32), body);
}

type Measured = { rate: number; cpuUs: number };

/**
 * Seals per second of wall time, and the process's CPU time per seal (every thread: the
 * native ML-KEM may run off the main one). On a shared machine the CPU figure is the
 * steadier one: the wall clock also counts the time other processes had the core.
 */
async function rate(seconds: number, seal: Seal): Promise<Measured> {
  const body = "x".repeat(1024);
  for (let i = 0; i < 50; i++) await seal(body); // warm the JIT
  let n = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    await seal(body);
    n++;
  }
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { rate: n / wall, cpuUs: (used.user + used.system) / n };
}

export async function sealRate(seconds: number): Promise<{ hybrid: Measured; classical: Measured }> {
  const sender = x25519Generate();
  const recipient = x25519Generate();
  const kem = await mlkemKeyGen();
  const hybrid = await rate(seconds, (body) => sealOnce(sender.secretKey, recipient.publicKey, kem.encapsulationKey, body));
  const classical = await rate(seconds, (body) => sealClassical(sender.secretKey, recipient.publicKey, body));
  return { hybrid, classical };
}

/** SEND's size for a recipient of n bytes now, minus version 1's 226 + n (SPEC.md §4). */
function sendGain(): number {
  const key = { identityPub: new Uint8Array(32), sessionPub: new Uint8Array(32), sessionKemPub: new Uint8Array(MLKEM768_EK_LENGTH), issuedAt: 0, sig: new Uint8Array(64) };
  const to = "bob";
  const send = encodeMessage({
    t: "send",
    id: new Uint8Array(16),
    to,
    size: 0,
    senderKey: key,
    recipientSessionPub: new Uint8Array(32),
    enc: new Uint8Array(32),
    kemCiphertext: new Uint8Array(MLKEM768_CT_LENGTH),
  });
  return send.length - (226 + to.length);
}

export async function sealRows(ctx: BenchContext, relayRate: number | null): Promise<Row[]> {
  ctx.log("seal: hybrid (ML-KEM-768 + HPKE auth_psk) and classical HPKE auth + STREAM sealing rates on one core");
  const { hybrid, classical } = await sealRate(ctx.quick ? 0.3 : 3);
  ctx.log(`seal: hybrid ${Math.round(hybrid.rate)}/s, ${hybrid.cpuUs.toFixed(1)} us CPU each; classical ${Math.round(classical.rate)}/s, ${classical.cpuUs.toFixed(1)} us CPU each`);
  return [
    row({
      name: "seal rate per message and recipient (ML-KEM-768 + HPKE auth_psk + STREAM, 1 KiB, one core)",
      value: hybrid.rate,
      unit: "msg/s",
      baseline: { name: "relay message rate (this run)", value: relayRate },
    }),
    row({
      name: "seal rate, hybrid vs version 1's classical HPKE auth (same run)",
      value: hybrid.rate,
      unit: "msg/s",
      baseline: { name: "classical HPKE auth + STREAM, one core", value: classical.rate },
    }),
    row({
      name: "seal CPU per message, hybrid vs classical (process CPU time, all threads)",
      value: hybrid.cpuUs,
      unit: "us",
      baseline: { name: "classical HPKE auth + STREAM", value: classical.cpuUs },
    }),
    row({
      name: "bytes a sealed message gains on the wire (SEND, and DELIVER again)",
      value: sendGain(),
      unit: "B",
      baseline: { name: "version 1's SEND to a 3-byte user id", value: 226 + 3 },
    }),
  ];
}
