// The payloads of routed messages between nodes (SPEC.md §11.2): the single form and the
// batch, round trips, and every batch SPEC says a node MUST reject.

import { expect, test } from "bun:test";
import fc from "fast-check";
import { DELIVER_REF, decodeBatch, decodeRouted, deliverOf, deliverRefFrom, encodeBatch, encodeDeliverRef, encodeRouted } from "../../../src/server/cluster/route-batch.ts";
import { encodeMessage, encodeSignedKey, type Message, type MessageOf } from "../../../src/protocol/messages.ts";

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

const fill = (n: number, b: number): Uint8Array => new Uint8Array(n).fill(b);
const deliver: MessageOf<"deliver"> = {
  t: "deliver",
  id: id(1),
  from: "alice",
  size: 1234,
  senderKey: { identityPub: fill(32, 2), sessionPub: fill(32, 3), sessionKemPub: fill(1184, 4), issuedAt: 5, sig: fill(64, 6) },
  recipientSessionPub: fill(32, 7),
  enc: fill(32, 8),
  kemCiphertext: fill(1088, 9),
};

test("DELIVER_REF, byte for byte as SPEC.md §11.2 lays it out: DELIVER with the key's sig for the key", () => {
  const full = encodeMessage(deliver);
  const ref = encodeDeliverRef(deliver);
  const keyAt = 1 + 16 + 1 + 5 + 8;
  expect(ref[0]).toBe(DELIVER_REF);
  expect([...ref.subarray(1, keyAt)]).toEqual([...full.subarray(1, keyAt)]);
  expect([...ref.subarray(keyAt, keyAt + 64)]).toEqual([...fill(64, 6)]);
  expect([...ref.subarray(keyAt + 64)]).toEqual([...full.subarray(keyAt + 1320)]);
  const got = decodeBatch(encodeBatch("one", [{ user: "bob", body: ref }])).records[0]!;
  if (!("ref" in got)) throw new Error("not read as DELIVER_REF");
  expect(got.ref.keySig).toEqual(deliver.senderKey.sig);
  // Completed with the key, it is the DELIVER, message and encoding.
  const { m, encoded } = deliverOf(got.ref, deliver.senderKey, encodeSignedKey(deliver.senderKey));
  expect(m).toEqual(deliver);
  expect(encoded.finish()).toEqual(full);
});

test("a DELIVER_REF a node MUST reject, and its batch with it", () => {
  const ref = encodeDeliverRef(deliver);
  const bad = Uint8Array.from(ref);
  bad[17] = 0; // an empty user id
  const cases: [string, Uint8Array][] = [
    ["cut short", ref.subarray(0, ref.length - 1)],
    ["a byte too many", Uint8Array.from([...ref, 0])],
    ["no user id", bad],
  ];
  for (const [what, body] of cases) expect(() => decodeBatch(encodeBatch("one", [{ user: "bob", body: encodeMessage({ t: "abort", id: id(2) }) }, { user: "bob", body }])), what).toThrow();
  expect(decodeBatch(encodeBatch("one", [{ user: "bob", body: ref }])).records).toHaveLength(1);
});

test("deliverRefFrom splices from a DELIVER's encoding the bytes encodeDeliverRef writes from its fields; anything but a DELIVER is refused", () => {
  const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
  fc.assert(
    fc.property(
      fc.record({
        id: bytes(16),
        from: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,31}$/),
        size: fc.maxSafeNat(),
        senderKey: fc.record({ identityPub: bytes(32), sessionPub: bytes(32), sessionKemPub: bytes(1184), issuedAt: fc.maxSafeNat(), sig: bytes(64) }),
        recipientSessionPub: bytes(32),
        enc: bytes(32),
        kemCiphertext: bytes(1088),
      }),
      (f) => {
        const deliver: MessageOf<"deliver"> = { t: "deliver", ...f };
        const encoded = encodeMessage(deliver);
        expect(deliverRefFrom(encoded)).toEqual(encodeDeliverRef(deliver));
        expect(() => deliverRefFrom(encoded.subarray(0, encoded.length - 1))).toThrow();
        expect(() => deliverRefFrom(encodeMessage({ ...deliver, t: "send", to: f.from } as Message))).toThrow();
      },
    ),
    { numRuns: 50 },
  );
});
