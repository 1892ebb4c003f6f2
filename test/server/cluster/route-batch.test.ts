// The payloads of routed messages between nodes (SPEC.md §11.2): the single form and the
// batch, round trips, and every batch SPEC says a node MUST reject.

import { expect, test } from "bun:test";
import fc from "fast-check";
import { decodeBatch, decodeRouted, encodeBatch, encodeRouted } from "../../../src/server/cluster/route-batch.ts";
import { encodeMessage, type Message } from "../../../src/protocol/messages.ts";

const id = (b: number): Uint8Array => new Uint8Array(16).fill(b);
const chunk = (b: number, size = 100): Message => ({ t: "chunk", id: id(b), seq: b, last: false, data: new Uint8Array(size).fill(b) });
const ack: Message = { t: "ack", id: id(9), status: "stored", receipt: new Uint8Array(32).fill(7) };

test("a single routed message: the node name, then the message", () => {
  const wire = encodeRouted("one", encodeMessage(ack));
  expect(wire[0]).toBe(3);
  expect(new TextDecoder().decode(wire.subarray(1, 4))).toBe("one");
  expect(decodeRouted("bob.smith", wire)).toEqual({ from: "one", records: [{ user: "bob.smith", m: ack, bytes: encodeMessage(ack) }] });
});

test("a batch, byte for byte as SPEC.md §11.2 lays it out", () => {
  const body = encodeMessage(ack);
  const wire = encodeBatch("n1", [{ user: "a.b", body }]);
  const expected = [2, ...new TextEncoder().encode("n1"), 0, 1, 3, ...new TextEncoder().encode("a.b"), 0, 0, 0, body.length, ...body];
  expect([...wire]).toEqual(expected);
});

test("decodeBatch(encodeBatch(records)) gives the records in order", () => {
  const user = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,31}$/);
  const message = fc.oneof(
    fc.constant(ack),
    fc.record({ t: fc.constant("chunk" as const), id: fc.uint8Array({ minLength: 16, maxLength: 16 }), seq: fc.nat(), last: fc.boolean(), data: fc.uint8Array({ maxLength: 2000 }) }),
    fc.record({ t: fc.constant("abort" as const), id: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
  );
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9_-]{1,32}$/), fc.array(fc.record({ user, m: message }), { minLength: 1, maxLength: 20 }), (node, records) => {
      const wire = encodeBatch(node, records.map((r) => ({ user: r.user, body: encodeMessage(r.m as Message) })));
      const got = decodeBatch(wire);
      expect(got.from).toBe(node);
      // Each record with its message's bytes as they came, which a node passes on unchanged.
      expect(got.records).toEqual(records.map((r) => ({ user: r.user, m: r.m as Message, bytes: encodeMessage(r.m as Message) })));
    }),
  );
});

test("a batch a node MUST reject, whole", () => {
  const good = encodeBatch("one", [
    { user: "bob", body: encodeMessage(chunk(1)) },
    { user: "carol", body: encodeMessage(chunk(2)) },
  ]);
  expect(decodeBatch(good).records).toHaveLength(2);
  const cases: [string, Uint8Array, RegExp][] = [
    ["an empty node name", Uint8Array.from([0, 0, 1]), /node name/],
    ["a node name cut short", Uint8Array.from([5, 0x6f, 0x6e]), /node name/],
    ["no count", Uint8Array.from([3, 0x6f, 0x6e, 0x65, 0]), /count/],
    ["count 0", Uint8Array.from([3, 0x6f, 0x6e, 0x65, 0, 0]), /empty/],
    ["the last record cut short", good.subarray(0, good.length - 1), /cut short/],
    ["a record missing (count says 3)", Uint8Array.from([...good.subarray(0, 4), 0, 3, ...good.subarray(6)]), /cut short/],
    ["trailing bytes", Uint8Array.from([...good, 0]), /trailing/],
    ["a record's user not a user id", encodeBatch("one", [{ user: "Bob", body: encodeMessage(chunk(1)) }]), /user id/],
    ["a record's message not a message", encodeBatch("one", [{ user: "bob", body: encodeMessage(chunk(1)) }, { user: "bob", body: Uint8Array.from([0xee]) }]), /./],
  ];
  for (const [what, wire, err] of cases) expect(() => decodeBatch(wire), what).toThrow(err);
});

test("a single routed message a node MUST reject", () => {
  expect(() => decodeRouted("bob", Uint8Array.from([0]))).toThrow(/node name/);
  expect(() => decodeRouted("Bob", encodeRouted("one", encodeMessage(ack)))).toThrow(/user id/);
  expect(() => decodeRouted("bob", encodeRouted("one", Uint8Array.from([0xee])))).toThrow();
});

test("encodeBatch refuses an empty batch", () => {
  expect(() => encodeBatch("one", [])).toThrow(/1\.\.65535/);
});
