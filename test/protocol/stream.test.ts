// STREAM (SPEC.md "Message body"): round trips over chunk-boundary sizes, and every way
// an attacker could rearrange, drop, cut or flip chunks.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { STREAM_CHUNK, StreamOpener, StreamSealer, StreamWriter, streamCiphertextSize, streamNonce, streamReader } from "../../src/protocol/stream.ts";
import { NOISE_MAX_MESSAGE } from "../../src/protocol/noise.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { cutAt, expectCode } from "./vectors.ts";

const KEY = new Uint8Array(32).fill(0x42);

type Chunk = { ct: Uint8Array; last: boolean };

function plaintextOf(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 131 + 7) & 0xff;
  return out;
}

function sealAll(pt: Uint8Array, key = KEY): Chunk[] {
  const sealer = new StreamSealer(key);
  const chunks: Chunk[] = [];
  let offset = 0;
  do {
    const end = Math.min(offset + STREAM_CHUNK, pt.length);
    const last = end === pt.length;
    chunks.push({ ct: sealer.seal(pt.subarray(offset, end), last), last });
    offset = end;
  } while (offset < pt.length);
  return chunks;
}

function openAll(chunks: Chunk[], key = KEY): { pt: Uint8Array; opener: StreamOpener } {
  const opener = new StreamOpener(key);
  const parts = chunks.map((c) => opener.open(c.ct, c.last));
  const pt = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    pt.set(p, offset);
    offset += p.length;
  }
  return { pt, opener };
}

describe("STREAM", () => {
  test("a full chunk plus a frame header fits one Noise message", () => {
    expect(STREAM_CHUNK).toBe(61440);
    expect(STREAM_CHUNK + 16 + 64).toBeLessThan(NOISE_MAX_MESSAGE - 16);
  });

  test("round trip at the chunk boundaries", () => {
    for (const size of [0, 1, STREAM_CHUNK - 1, STREAM_CHUNK, STREAM_CHUNK + 1, 2 * STREAM_CHUNK, 3 * STREAM_CHUNK + 5]) {
      const pt = plaintextOf(size);
      const chunks = sealAll(pt);
      expect(chunks.reduce((n, c) => n + c.ct.length, 0)).toBe(streamCiphertextSize(size));
      const { pt: opened, opener } = openAll(chunks);
      expect(opened).toEqual(pt);
      expect(opener.done()).toBe(true);
      opener.finish();
    }
  });

  test("round trip over random sizes (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 * STREAM_CHUNK }), (size) => {
        const pt = plaintextOf(size);
        const chunks = sealAll(pt);
        expect(chunks.length).toBe(Math.max(1, Math.ceil(size / STREAM_CHUNK)));
        expect(chunks.reduce((n, c) => n + c.ct.length, 0)).toBe(streamCiphertextSize(size));
        expect(openAll(chunks).pt).toEqual(pt);
      }),
      { numRuns: 25 },
    );
  });

  test("streamCiphertextSize", () => {
    expect(streamCiphertextSize(0)).toBe(16);
    expect(streamCiphertextSize(STREAM_CHUNK)).toBe(STREAM_CHUNK + 16);
    expect(streamCiphertextSize(STREAM_CHUNK + 1)).toBe(STREAM_CHUNK + 1 + 32);
    expectCode(() => streamCiphertextSize(-1), "malformed");
    expectCode(() => streamCiphertextSize(1.5), "malformed");
  });

  const three = () => sealAll(plaintextOf(2 * STREAM_CHUNK + 100));

  test("reordered chunks give bad-tag", () => {
    const [a, b, c] = three() as [Chunk, Chunk, Chunk];
    expectCode(() => openAll([b, a, c]), "bad-tag");
  });

  test("a dropped middle chunk gives bad-tag", () => {
    const [a, , c] = three() as [Chunk, Chunk, Chunk];
    expectCode(() => openAll([a, c]), "bad-tag");
  });

  test("a flipped last flag is detected", () => {
    const [a, b, c] = three() as [Chunk, Chunk, Chunk];
    // A full chunk presented as last: right size, wrong nonce.
    expectCode(() => openAll([a, { ct: b.ct, last: true }]), "bad-tag");
    // The short last chunk presented as not last: wrong size, refused before crypto.
    expectCode(() => openAll([a, b, { ct: c.ct, last: false }]), "malformed");
    // A full-size last chunk presented as not last.
    const exact = sealAll(plaintextOf(2 * STREAM_CHUNK));
    expectCode(() => openAll([exact[0] as Chunk, { ct: (exact[1] as Chunk).ct, last: false }]), "bad-tag");
  });

  test("truncation leaves the opener not done, and finish() says truncated", () => {
    const [a, b] = three() as [Chunk, Chunk, Chunk];
    const { opener } = openAll([a, b]);
    expect(opener.done()).toBe(false);
    expectCode(() => opener.finish(), "truncated");
    expect(new StreamOpener(KEY).done()).toBe(false);
  });

  test("anything after the last chunk is malformed", () => {
    const chunks = sealAll(plaintextOf(10));
    const { opener } = openAll(chunks);
    expectCode(() => opener.open((chunks[0] as Chunk).ct, true), "malformed");
    const sealer = new StreamSealer(KEY);
    sealer.seal(new Uint8Array(0), true);
    expectCode(() => sealer.seal(new Uint8Array(0), true), "malformed");
  });

  test("chunk sizes are enforced on both sides", () => {
    const sealer = new StreamSealer(KEY);
    expectCode(() => sealer.seal(new Uint8Array(STREAM_CHUNK - 1), false), "malformed");
    expectCode(() => sealer.seal(new Uint8Array(STREAM_CHUNK + 1), true), "malformed");
    sealer.seal(new Uint8Array(STREAM_CHUNK), false);
    expectCode(() => sealer.seal(new Uint8Array(0), true), "malformed");

    const opener = new StreamOpener(KEY);
    expectCode(() => opener.open(new Uint8Array(STREAM_CHUNK + 15), false), "malformed");
    expectCode(() => opener.open(new Uint8Array(15), true), "malformed");
    expectCode(() => opener.open(new Uint8Array(STREAM_CHUNK + 17), true), "malformed");
    const full = sealAll(plaintextOf(STREAM_CHUNK + 1));
    opener.open((full[0] as Chunk).ct, false);
    // An empty last chunk is only valid as the whole (empty) body.
    expectCode(() => opener.open(new Uint8Array(16), true), "malformed");
    expectCode(() => new StreamSealer(new Uint8Array(16)), "malformed");
    expectCode(() => new StreamOpener(new Uint8Array(33)), "malformed");
  });

  test("a flipped bit anywhere gives bad-tag; another key gives bad-tag", () => {
    const chunks = sealAll(plaintextOf(STREAM_CHUNK + 40));
    fc.assert(
      fc.property(fc.nat(), fc.boolean(), (bitSeed, inLast) => {
        const index = inLast ? 1 : 0;
        const target = chunks[index] as Chunk;
        const bit = bitSeed % (target.ct.length * 8);
        const bad = Uint8Array.from(target.ct);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        const tampered = chunks.map((c, i) => (i === index ? { ct: bad, last: c.last } : c));
        expectCode(() => openAll(tampered), "bad-tag");
      }),
      { numRuns: 50 },
    );
    expectCode(() => openAll(chunks, new Uint8Array(32).fill(1)), "bad-tag");
  });

  test("an empty body seals to one 16-byte last chunk", () => {
    const chunks = sealAll(new Uint8Array(0));
    expect(chunks.length).toBe(1);
    expect((chunks[0] as Chunk).ct.length).toBe(16);
    expect(openAll(chunks).pt.length).toBe(0);
  });
});

describe("sealing in pieces", () => {
  test("sealParts joins to seal's chunk at the same position, for full, short and empty last chunks", () => {
    for (const size of [0, 1, STREAM_CHUNK, 2 * STREAM_CHUNK + 9]) {
      const pt = plaintextOf(size);
      const a = new StreamSealer(KEY);
      const b = new StreamSealer(KEY);
      const chunks = Math.max(1, Math.ceil(size / STREAM_CHUNK));
      for (let i = 0; i < chunks; i++) {
        const piece = pt.subarray(i * STREAM_CHUNK, Math.min(size, (i + 1) * STREAM_CHUNK));
        const last = i === chunks - 1;
        expect(Buffer.concat(b.sealParts(piece, last)).equals(Buffer.from(a.seal(piece, last)))).toBe(true);
      }
      expectCode(() => b.sealParts(new Uint8Array(0), true), "malformed"); // nothing after the last chunk
    }
  });
});


describe("StreamWriter (age's stream.Writer)", () => {
  const SIZES = [0, 1, STREAM_CHUNK - 1, STREAM_CHUNK, STREAM_CHUNK + 1, 2 * STREAM_CHUNK, 2 * STREAM_CHUNK + 5];

  test("any cut of the plaintext seals to the chunks of one-shot sealing, the last on close", () => {
    fc.assert(
      fc.property(fc.constantFrom(...SIZES), fc.array(fc.nat({ max: 3 * STREAM_CHUNK }), { maxLength: 6 }), fc.boolean(), (size, cuts, parts) => {
        const pt = plaintextOf(size);
        const got: Chunk[] = [];
        const w = new StreamWriter(KEY, (sealed, last) => got.push({ ct: concat(...sealed), last }), { parts });
        for (const piece of cutAt(pt, cuts.map((c) => Math.min(c, pt.length)))) w.write(piece);
        expect(got.some((c) => c.last)).toBe(false); // nothing is last before close
        w.close();
        expect(w.size).toBe(size);
        expect(got).toEqual(sealAll(pt));
      }),
      { numRuns: 60 },
    );
  });

  test("without parts, each chunk reaches the sink as one piece", () => {
    const pieces: number[] = [];
    const w = new StreamWriter(KEY, (sealed) => pieces.push(sealed.length));
    w.write(plaintextOf(STREAM_CHUNK + 3));
    w.close();
    expect(pieces).toEqual([1, 1]);
  });

  test("refuses writes and a second close after close", () => {
    const w = new StreamWriter(KEY, () => {});
    w.write(plaintextOf(3));
    w.close();
    expectCode(() => w.write(plaintextOf(1)), "malformed");
    expectCode(() => w.close(), "malformed");
  });
});

describe("streamReader (age's stream.Reader over a known size)", () => {
  /** A read callback over bytes, as a file read would fill buffers. */
  const reading = (bytes: Uint8Array) => {
    let off = 0;
    return (buf: Uint8Array): number => {
      const n = Math.min(buf.length, bytes.length - off);
      buf.set(bytes.subarray(off, off + n));
      off += n;
      return n;
    };
  };

  test("reads back what was sealed, for sizes around the chunk boundaries", () => {
    for (const size of [0, 1, STREAM_CHUNK, STREAM_CHUNK + 1, 3 * STREAM_CHUNK]) {
      const ct = concat(...sealAll(plaintextOf(size)).map((c) => c.ct));
      expect(ct.length).toBe(streamCiphertextSize(size));
      const got = [...streamReader(KEY, ct.length, reading(ct))].map((p) => Uint8Array.from(p));
      expect(concat(...got)).toEqual(plaintextOf(size));
      expect(got.every((p) => p.length > 0)).toBe(true); // an empty plaintext yields nothing
    }
  });

  test("input that ends early is truncated; a size cut at a chunk boundary is a bad tag, not a shorter plaintext", () => {
    const ct = concat(...sealAll(plaintextOf(2 * STREAM_CHUNK + 9)).map((c) => c.ct));
    expectCode(() => [...streamReader(KEY, ct.length, reading(ct.subarray(0, ct.length - 1)))], "truncated");
    // Told the stream ends after the first chunk, the reader opens it as last: its nonce differs.
    expectCode(() => [...streamReader(KEY, STREAM_CHUNK + 16, reading(ct))], "bad-tag");
  });
});

test("streamNonce is the 11-byte big-endian counter and the last flag, at every byte boundary up to 2^53 - 1", () => {
  const expected = (counter: number, last: boolean) => {
    const n = new Uint8Array(12);
    new DataView(n.buffer).setBigUint64(3, BigInt(counter), false);
    n[11] = last ? 1 : 0;
    return n;
  };
  const edges = [0, 1, 255, 256, 2 ** 16, 2 ** 24 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 7, 2 ** 48 - 1, Number.MAX_SAFE_INTEGER - 1];
  for (const c of edges) for (const last of [false, true]) expect(streamNonce(c, last)).toEqual(expected(c, last));
  fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1 }), fc.boolean(), (c, last) => {
    expect(streamNonce(c, last)).toEqual(expected(c, last));
  }));
  expect([...streamNonce(0x0102030405, true)]).toEqual([0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x01]);
});
