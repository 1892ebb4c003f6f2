// Batching by event-loop turn (SPEC.md §4.4): what is posted in one turn leaves as one
// record at its end; flush and drop act at once; a message that cannot fit throws to its poster.

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
});
