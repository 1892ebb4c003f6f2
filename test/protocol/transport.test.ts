// Transport records (SPEC.md §2.3, §4.4): messages sealed together leave in as few records
// as fit, in order, a message alone as itself; the other side opens exactly what was sealed.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_PLAINTEXT, encode } from "../../src/protocol/transport.ts";
import { T, encodeMessage, type Message } from "../../src/protocol/messages.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { expectCode } from "./vectors.ts";
import { MESSAGE_ID, chunkOf, transportPair } from "../support/transports.ts";

describe("sealAll", () => {
  test("a message alone is a record of itself, not a batch of one", () => {
    const { sender, receiver, plaintext } = transportPair();
    const m: Message = { t: "window", id: MESSAGE_ID, seq: 8, limit: 24 };
    const records = sender.sealAll([encode(m)]);
    expect(records).toHaveLength(1);
    expect(plaintext(records[0]!)).toEqual(encodeMessage(m));
    expect(receiver.open(concat(...records[0]!))).toEqual([m]);
  });

  test("small messages share one record, in order", () => {
    const { sender, receiver, plaintext } = transportPair();
    const ms: Message[] = [{ t: "heartbeat" }, { t: "who", req: 7 }, chunkOf(1024), { t: "ack", id: MESSAGE_ID, status: "stored", receipt: new Uint8Array(32) }];
    const records = sender.sealAll(ms.map(encode));
    expect(records).toHaveLength(1);
    expect(plaintext(records[0]!)[0]).toBe(T.batch);
    expect(receiver.open(concat(...records[0]!))).toEqual(ms);
  });

  test("any messages: every record fits, neighbours are packed greedily, and all come out in order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: MAX_PLAINTEXT - 22 }), { minLength: 1, maxLength: 12 }), (sizes) => {
        const { sender, receiver, plaintext } = transportPair();
        const ms = sizes.map((n, i) => chunkOf(n, i));
        const records = sender.sealAll(ms.map(encode));
        const out: Message[] = [];
        let next = 0;
        for (const r of records) {
          const body = concat(...r);
          expect(body.length).toBeLessThanOrEqual(65535);
          const opened = receiver.open(body);
          expect(plaintext(r)[0]).toBe(opened.length === 1 ? T.chunk : T.batch);
          next += opened.length;
          // Greedy: the next message would not have fitted in this record's batch.
          if (next < ms.length) {
            const used = 1 + opened.reduce((n, m) => n + 2 + encodeMessage(m).length, 0);
            expect(used + 2 + encodeMessage(ms[next]!).length).toBeGreaterThan(MAX_PLAINTEXT);
          }
          out.push(...opened);
        }
        expect(out).toEqual(ms);
      }),
      { numRuns: 60 },
    );
  });

  test("a message of exactly the largest plaintext goes alone; one byte more is too-large at encode", () => {
    const { sender, receiver } = transportPair();
    const largest = chunkOf(MAX_PLAINTEXT - 22);
    const records = sender.sealAll([encode({ t: "heartbeat" }), encode(largest), encode({ t: "heartbeat" })]);
    expect(records.map((r) => receiver.open(concat(...r)).length)).toEqual([1, 1, 1]);
    expectCode(() => encode(chunkOf(MAX_PLAINTEXT - 21)), "too-large");
  });
});
