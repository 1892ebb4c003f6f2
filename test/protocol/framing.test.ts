// Record framing (SPEC.md §2): round trips through a decoder fed in arbitrary pieces,
// the zero-length and size-limit rejections, and the one-partial-record buffering bound.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_RECORD, RecordDecoder, encodeRecord } from "../../src/protocol/framing.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { expectCode } from "./vectors.ts";

/** Split bytes at the given cut points (taken modulo the length, deduplicated, sorted). */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(prev, p));
    prev = p;
  }
  pieces.push(bytes.subarray(prev));
  return pieces;
}

const recordBody = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: MAX_RECORD - 3, maxLength: MAX_RECORD }) },
);

describe("encodeRecord", () => {
  test("prefixes a 2-byte big-endian length", () => {
    expect(encodeRecord(Uint8Array.of(7))).toEqual(Uint8Array.of(0, 1, 7));
    const max = encodeRecord(new Uint8Array(MAX_RECORD).fill(9));
    expect(max.length).toBe(MAX_RECORD + 2);
    expect(max.subarray(0, 2)).toEqual(Uint8Array.of(0xff, 0xff));
    const mid = encodeRecord(new Uint8Array(0x1234));
    expect(mid.subarray(0, 2)).toEqual(Uint8Array.of(0x12, 0x34));
  });

  test("an empty body or one over 65535 bytes is too-large", () => {
    expectCode(() => encodeRecord(new Uint8Array(0)), "too-large");
    expectCode(() => encodeRecord(new Uint8Array(MAX_RECORD + 1)), "too-large");
    expectCode(() => encodeRecord(new Uint8Array(200_000)), "too-large");
  });
});

describe("RecordDecoder", () => {
  test("any record list fed in any pieces comes back whole, holding at most one partial record", () => {
    fc.assert(
      fc.property(fc.array(recordBody, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (bodies, cuts) => {
        const wire = concat(...bodies.map(encodeRecord));
        // Byte offsets where a record ends: the decoder must hold exactly the bytes past the last one reached.
        const ends: number[] = [];
        let off = 0;
        for (const b of bodies) {
          off += 2 + b.length;
          ends.push(off);
        }
        const dec = new RecordDecoder();
        const got: Uint8Array[] = [];
        let fed = 0;
        for (const piece of splitAt(wire, cuts)) {
          got.push(...dec.push(piece));
          fed += piece.length;
          const boundary = ends.filter((e) => e <= fed).at(-1) ?? 0;
          expect(dec.pending).toBe(fed - boundary);
          expect(dec.pending).toBeLessThan(2 + MAX_RECORD);
          expect(got.length).toBe(ends.filter((e) => e <= fed).length);
        }
        expect(got).toEqual(bodies);
        expect(dec.pending).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  test("a maximum-size record delivered in 1000-byte pieces", () => {
    const body = new Uint8Array(MAX_RECORD);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const wire = concat(encodeRecord(body), encodeRecord(Uint8Array.of(1, 2, 3)));
    const dec = new RecordDecoder();
    const got: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i += 1000) got.push(...dec.push(wire.subarray(i, Math.min(i + 1000, wire.length))));
    expect(got.length).toBe(2);
    expect(got[0]).toEqual(body);
    expect(got[1]).toEqual(Uint8Array.of(1, 2, 3));
  });

  test("a record whole in one push is a view of it; one assembled across pushes keeps nothing of them", () => {
    const wire = concat(encodeRecord(Uint8Array.of(1, 2, 3)), encodeRecord(Uint8Array.of(4, 5, 6, 7)));
    const dec = new RecordDecoder();
    const first = wire.subarray(0, 7); // the first record whole, and the second's length and one byte
    const second = wire.subarray(7);
    const [whole] = dec.push(first);
    expect(whole!.buffer).toBe(wire.buffer); // in place
    expect(whole!.byteOffset).toBe(2);
    const [assembled] = dec.push(second);
    expect(assembled!.buffer).not.toBe(wire.buffer);
    wire.fill(0xee); // the caller reuses its buffer: the assembled record does not change
    expect(assembled).toEqual(Uint8Array.of(4, 5, 6, 7));
    expect(whole).toEqual(Uint8Array.of(0xee, 0xee, 0xee));
  });

  test("a zero length is malformed, whether alone, after a record, or split across pushes", () => {
    expectCode(() => new RecordDecoder().push(Uint8Array.of(0, 0)), "malformed");
    expectCode(() => new RecordDecoder().push(Uint8Array.of(0, 1, 0x41, 0, 0, 0x42)), "malformed");
    const dec = new RecordDecoder();
    expect(dec.push(Uint8Array.of(0))).toEqual([]);
    expect(dec.pending).toBe(1);
    expectCode(() => dec.push(Uint8Array.of(0)), "malformed");
  });

  test("a lone length byte or a header without its body yields nothing yet", () => {
    const dec = new RecordDecoder();
    expect(dec.push(Uint8Array.of(0xff))).toEqual([]);
    expect(dec.push(Uint8Array.of(0xff, 1, 2))).toEqual([]);
    expect(dec.pending).toBe(4);
  });
});
