// Batching by event-loop turn (SPEC.md §4.4): what is posted in one turn leaves as one
// record at its end; flush and drop act at once; a message that cannot fit throws to its poster;
// records sealed and not yet written still count as waiting (what the relay owes, §6.5).

import { describe, expect, test } from "bun:test";
import { MAX_PLAINTEXT } from "../../src/protocol/transport.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { Outgoing } from "../../src/net/outgoing.ts";
import { expectCode } from "../protocol/vectors.ts";
import { chunkOf, transportPair } from "../support/transports.ts";

describe("Outgoing", () => {
  test("what is posted in one turn leaves as one record at its end; a later post, in the next", async () => {
    const { sender, receiver } = transportPair();
    const written: Uint8Array[][] = [];
    const out = new Outgoing(sender, (r) => written.push(r));
    out.post({ t: "heartbeat" });
    out.post({ t: "who", req: 1 });
    expect(written).toHaveLength(0);
    expect(out.waitingBytes).toBe(2 + 1 + (2 + 5)); // as BATCH items: a length, then the message
    await Promise.resolve();
    expect(written).toHaveLength(1);
    expect(out.waitingBytes).toBe(0);
    out.post({ t: "who", req: 2 });
    await Promise.resolve();
    expect(written.map((r) => receiver.open(concat(...r)))).toEqual([[{ t: "heartbeat" }, { t: "who", req: 1 }], [{ t: "who", req: 2 }]]);
  });

  test("flush writes what waits now, and the turn's end then has nothing left to write", async () => {
    const { sender, receiver } = transportPair();
    const written: Uint8Array[][] = [];
    const out = new Outgoing(sender, (r) => written.push(r));
    out.post({ t: "error", code: "shutdown", reason: "bye" });
    out.flush();
    expect(written).toHaveLength(1);
    await Promise.resolve();
    expect(written).toHaveLength(1);
    expect(receiver.open(concat(...written[0]!))).toEqual([{ t: "error", code: "shutdown", reason: "bye" }]);
  });

  test("a message that can never be sent throws to its poster and leaves the others alone", async () => {
    const { sender, receiver } = transportPair();
    const written: Uint8Array[][] = [];
    const out = new Outgoing(sender, (r) => written.push(r));
    out.post({ t: "heartbeat" });
    expectCode(() => out.post(chunkOf(MAX_PLAINTEXT)), "too-large");
    await Promise.resolve();
    expect(written.map((r) => receiver.open(concat(...r)))).toEqual([[{ t: "heartbeat" }]]);
  });

  test("drop forgets what waits: nothing is sealed or written for it", async () => {
    const { sender, receiver } = transportPair();
    const written: Uint8Array[][] = [];
    const out = new Outgoing(sender, (r) => written.push(r));
    out.post({ t: "who", req: 1 });
    out.drop();
    expect(out.waitingBytes).toBe(0);
    await Promise.resolve();
    expect(written).toHaveLength(0);
    out.post({ t: "who", req: 2 });
    await Promise.resolve();
    // Nothing was sealed for the dropped message: the next record opens with the first nonce.
    expect(written.map((r) => receiver.open(concat(...r)))).toEqual([[{ t: "who", req: 2 }]]);
  });

  test("while a turn's records are written one by one, those not written yet still count as waiting", async () => {
    const { sender, receiver } = transportPair();
    const written: Uint8Array[][] = [];
    const seen: number[] = [];
    // The relay measures what it owes after each record it writes (SPEC.md §6.5): finding
    // the rest of the turn missing, it would take itself for drained and read its senders again.
    const out = new Outgoing(sender, (r) => {
      written.push(r);
      seen.push(out.waitingBytes);
    });
    for (let seq = 0; seq < 3; seq++) out.post(chunkOf(60_000, seq)); // one record each
    await Promise.resolve();
    const size = (r: Uint8Array[]) => r.reduce((n, p) => n + p.length, 0);
    expect(written).toHaveLength(3);
    expect(seen).toEqual([size(written[1]!) + size(written[2]!), size(written[2]!), 0]);
    expect(out.waitingBytes).toBe(0);
    expect(written.map((r) => receiver.open(concat(...r)).map((m) => (m as { seq: number }).seq))).toEqual([[0], [1], [2]]);
  });

  test("a flush from within a write (a close) writes the records sealed before its own first", async () => {
    const { sender, receiver } = transportPair();
    const written: Uint8Array[][] = [];
    const out = new Outgoing(sender, (r) => {
      written.push(r);
      if (written.length === 1) {
        out.post({ t: "error", code: "limit", reason: "bye" });
        out.flush();
      }
    });
    for (let seq = 0; seq < 3; seq++) out.post(chunkOf(60_000, seq));
    await Promise.resolve();
    // Opened in the order written: a record out of order fails its nonce and throws here.
    const opened = written.map((r) => receiver.open(concat(...r)).map((m) => m.t === "chunk" ? m.seq : m.t));
    expect(opened).toEqual([[0], [1], [2], ["error"]]);
    expect(out.waitingBytes).toBe(0);
  });
});
