// The message plaintext parser (SPEC.md §5.3): any cut of a valid plaintext reads to the same
// header and attachment bytes, and each case §5.3 lists as "a receiver MUST reject" is rejected
// with its code.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { encodeHeader, MAX_HEADER_BYTES, type EnvelopeHeader } from "../../src/protocol/envelope.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { PlaintextParser, type Delivery } from "../../src/protocol/plaintext.ts";
import { cutAt, expectCode } from "./vectors.ts";

const ID = "0123456789abcdef0123456789abcdef";
const DELIVERY: Delivery = { id: ID, from: "alice", recipient: "bob" };

function header(attachments: { name: string; size: number }[], over: Partial<EnvelopeHeader> = {}): EnvelopeHeader {
  return { v: 1, id: ID, from: "alice", to: ["bob", "carol"], date: 1_700_000_000_000, subject: "Hi", body: "Body", attachments, ...over };
}

function bytesOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** u32 L || header || attachments, as a sender writes it. */
function plaintext(h: EnvelopeHeader, atts: Uint8Array[]): Uint8Array {
  return concat(encodeHeader(h), ...atts);
}

/** u32 L || raw header bytes: for headers encodeHeader would never write. */
function rawPlaintext(json: string, tail: Uint8Array = new Uint8Array(0)): Uint8Array {
  const body = new TextEncoder().encode(json);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, body.length);
  return concat(len, body, tail);
}

interface Read {
  header: EnvelopeHeader | undefined;
  atts: Uint8Array[];
  ended: number[];
}

/** Parse pt cut into the given pieces; what the sink saw (copies: views live only during a call). */
function parse(total: number, pieces: Uint8Array[], delivery = DELIVERY): Read {
  const r: Read = { header: undefined, atts: [], ended: [] };
  const parts: Uint8Array[][] = [];
  const p = new PlaintextParser(total, delivery, {
    header: (h) => {
      r.header = h;
      for (const _ of h.attachments) parts.push([]);
    },
    attachment: (i, bytes) => parts[i]!.push(Uint8Array.from(bytes)),
    attachmentEnd: (i) => r.ended.push(i),
  });
  for (const piece of pieces) p.push(piece);
  p.end();
  r.atts = parts.map((chunks) => concat(...chunks));
  return r;
}

describe("PlaintextParser: reading", () => {
  test("any cut of a valid plaintext reads to the same header and attachment bytes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 3000 }), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (sizes, cuts) => {
          const atts = sizes.map((s, i) => bytesOf(s, i));
          const h = header(sizes.map((size, i) => ({ name: `f${i}.bin`, size })));
          const pt = plaintext(h, atts);
          const r = parse(pt.length, cutAt(pt, cuts.map((c) => c % (pt.length + 1))));
          expect(r.header).toEqual(h);
          expect(r.atts).toEqual(atts);
          expect(r.ended).toEqual(sizes.map((_, i) => i)); // each ends once, in order, empty ones too
        },
      ),
      { numRuns: 200 },
    );
  });

  test("a header alone (no attachments) and a byte at a time", () => {
    const pt = plaintext(header([]), []);
    const r = parse(pt.length, [...pt].map((b) => Uint8Array.of(b)));
    expect(r.header?.subject).toBe("Hi");
    expect(r.atts).toEqual([]);
  });
});

describe("PlaintextParser: SPEC.md §5.3 reject cases", () => {
  const valid = plaintext(header([{ name: "a", size: 5 }]), [bytesOf(5, 1)]);

  test("an announced size implying fewer than 4 plaintext bytes (or none possible, -1)", () => {
    for (const total of [-1, 0, 3]) expectCode(() => new PlaintextParser(total, DELIVERY, { header() {}, attachment() {}, attachmentEnd() {} }), "malformed");
  });

  test("L = 0", () => {
    expectCode(() => parse(8, [rawPlaintext("", bytesOf(4, 0))]), "malformed");
  });

  test("L > 4194304, and 4 + L beyond the total", () => {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, MAX_HEADER_BYTES + 1);
    expectCode(() => parse(MAX_HEADER_BYTES + 10, [len]), "too-large");
    new DataView(len.buffer).setUint32(0, 100);
    expectCode(() => parse(50, [len]), "too-large");
  });

  test("a header that is not UTF-8, not JSON, starts with a BOM, or breaks a JSON rule", () => {
    const bad = [new Uint8Array([0xff, 0xfe]), new TextEncoder().encode("{"), new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("{}")])];
    for (const json of bad) {
      const pt = concat(new Uint8Array([0, 0, 0, json.length]), json);
      expectCode(() => parse(pt.length, [pt]), "malformed");
    }
    const h = JSON.stringify(header([])).replace('"v":1', '"v":1.0');
    const pt = rawPlaintext(h);
    expectCode(() => parse(pt.length, [pt]), "malformed");
  });

  test("id, from or to that do not match the delivery", () => {
    for (const over of [{ id: "f".repeat(32) }, { from: "mallory" }, { to: ["carol"] }]) {
      const pt = plaintext(header([], over), []);
      expectCode(() => parse(pt.length, [pt]), "malformed");
    }
  });

  test("4 + L + Σ size that differs from the total", () => {
    expectCode(() => parse(valid.length + 1, [valid]), "malformed");
    const short = plaintext(header([{ name: "a", size: 5 }]), [bytesOf(4, 1)]);
    expectCode(() => parse(short.length, [short]), "malformed");
  });

  test("more plaintext than announced", () => {
    expectCode(() => parse(valid.length, [valid, Uint8Array.of(0)]), "malformed");
  });

  test("a plaintext that ends before the header or an attachment is complete is truncated", () => {
    for (const cut of [2, 10, valid.length - 1]) expectCode(() => parse(valid.length, [valid.subarray(0, cut)]), "truncated");
  });
});
