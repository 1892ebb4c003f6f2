// The sender's own sealing rate (figure 1's "seal" row): per message and
// recipient, HPKE auth-mode setup to the recipient's session key, the exporter's stream and
// receipt keys, the header JSON and its STREAM chunk, for a 1 KiB body, as the outbox does
// it, on one core. Measured apart so that neither it nor the relay's rate hides the other:
// its baseline is the relay's rate from the same run.

import { encodeHeader, sealEnvelopeKey } from "../../src/protocol/envelope.ts";
import { StreamSealer } from "../../src/protocol/stream.ts";
import { randomBytes, x25519Generate } from "../../src/protocol/primitives.ts";
import type { BenchContext } from "../lib/context.ts";
import { row, type Row } from "../lib/row.ts";

export function sealOnce(senderSecret: Uint8Array, recipientPub: Uint8Array, body: string): Uint8Array {
  const id = randomBytes(16);
  const { streamKey } = sealEnvelopeKey({ id, from: "alice", to: "bob", senderSessionSecret: senderSecret, recipientSessionPub: recipientPub });
  const header = encodeHeader({ v: 1, id: Buffer.from(id).toString("hex"), from: "alice", to: ["bob"], date: Date.now(), subject: "bench", body, attachments: [] });
  return new StreamSealer(streamKey).seal(header, true);
}

export function sealRate(seconds: number): number {
  const sender = x25519Generate();
  const recipient = x25519Generate();
  const body = "x".repeat(1024);
  for (let i = 0; i < 50; i++) sealOnce(sender.secretKey, recipient.publicKey, body); // warm the JIT
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    sealOnce(sender.secretKey, recipient.publicKey, body);
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

export function sealRows(ctx: BenchContext, relayRate: number | null): Row[] {
  ctx.log("seal: HPKE + STREAM sealing rate on one core");
  const rate = sealRate(ctx.quick ? 0.3 : 3);
  return [
    row({
      name: "seal rate per message and recipient (HPKE auth + STREAM, 1 KiB, one core)",
      value: rate,
      unit: "msg/s",
      baseline: { name: "relay message rate (this run)", value: relayRate },
    }),
  ];
}
