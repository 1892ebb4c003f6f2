// The end-to-end envelope (SPEC.md §5): hybrid stream keys (HPKE mode_auth_psk over X25519,
// the ML-KEM-768 secret as PSK) bound to id, sender and recipient; every MUST-reject of the
// header; and the ciphertext/plaintext size relation.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  MAX_ATTACHMENTS,
  MAX_NAME_BYTES,
  MAX_SUBJECT_CHARS,
  encodeHeader,
  messageInfo,
  openEnvelopeKey,
  parseHeader,
  sealEnvelopeKey,
  streamPlaintextSize,
  validateName,
} from "../../src/protocol/envelope.ts";
import type { EnvelopeHeader } from "../../src/protocol/envelope.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";
import { setupAuthPSKS, setupAuthS } from "../../src/protocol/hpke.ts";
import { mlkemEphemeralFromSeed } from "../../src/protocol/mlkem.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { mlkemEncapsNoble } from "../support/noble-pq.ts";
import { STREAM_CHUNK, StreamOpener, StreamSealer, streamCiphertextSize } from "../../src/protocol/stream.ts";
import { expectCode } from "./vectors.ts";

const te = new TextEncoder();
const sender = x25519Generate();
const recipient = x25519Generate();
const stranger = x25519Generate();
// The recipient's session key is hybrid (SPEC.md §5.1): X25519 above, ML-KEM-768 here,
// held as the client holds it (a native key object that only decapsulates).
const recipientKemSeed = new Uint8Array(64).map((_, i) => 0x80 + i);
const recipientKem = await mlkemEphemeralFromSeed(recipientKemSeed);
const strangerKem = await mlkemEphemeralFromSeed(new Uint8Array(64).fill(0x99));
const ID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

/** alice seals ID to bob's session key, unless `over` says otherwise. */
function seal(over: Partial<Parameters<typeof sealEnvelopeKey>[0]> = {}) {
  return sealEnvelopeKey({
    id: ID,
    from: "alice",
    to: "bob",
    senderSessionSecret: sender.secretKey,
    recipientSessionPub: recipient.publicKey,
    recipientSessionKemPub: recipientKem.encapsulationKey,
    ...over,
  });
}

type OpenArgs = Parameters<typeof openEnvelopeKey>[0];
function openArgs(sealed: { enc: Uint8Array; kemCiphertext: Uint8Array }, over: Partial<OpenArgs> = {}): OpenArgs {
  return {
    id: ID,
    from: "alice",
    to: "bob",
    enc: sealed.enc,
    kemCiphertext: sealed.kemCiphertext,
    recipientSessionSecret: recipient.secretKey,
    recipientSessionKem: recipientKem,
    senderSessionPub: sender.publicKey,
    ...over,
  };
}

function flip(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

describe("envelope key (HPKE mode_auth_psk with ML-KEM-768, SPEC.md §5.2)", () => {
  test("open(seal) gives the sender's stream key, and each seal is fresh in both enc and the ML-KEM ciphertext", async () => {
    const a = await seal();
    const b = await seal();
    expect(a.streamKey.length).toBe(32);
    expect(a.enc.length).toBe(32);
    expect(a.kemCiphertext.length).toBe(1088);
    expect(await openEnvelopeKey(openArgs(a))).toEqual({ streamKey: a.streamKey, receiptKey: a.receiptKey });
    expect(await openEnvelopeKey(openArgs(b))).toEqual({ streamKey: b.streamKey, receiptKey: b.receiptKey });
    expect(b.enc).not.toEqual(a.enc);
    expect(b.kemCiphertext).not.toEqual(a.kemCiphertext);
    expect(b.streamKey).not.toEqual(a.streamKey);
  });

  test("pinned randomness (ikmE, and m through the noble twin) gives the same enc, ciphertext and keys", async () => {
    const rand = (n: number) => new Uint8Array(n).fill(7);
    const encapsulate = (ek: Uint8Array) => mlkemEncapsNoble(ek, new Uint8Array(32).fill(8));
    expect(await seal({ rand, encapsulate })).toEqual(await seal({ rand, encapsulate }));
  });

  test("it is RFC 9180 SetupAuthPSKS with psk = the ML-KEM secret and psk_id = its ciphertext", async () => {
    const m = new Uint8Array(32).fill(0x6d);
    const kem = mlkemEncapsNoble(recipientKem.encapsulationKey, m);
    const ikmE = new Uint8Array(32).fill(0xc3);
    const sealed = await seal({ rand: () => ikmE, encapsulate: (ek) => mlkemEncapsNoble(ek, m) });
    const { enc, ctx } = setupAuthPSKS(recipient.publicKey, messageInfo(ID, "alice", "bob"), kem.sharedSecret, kem.ciphertext, sender.secretKey, { ikmE });
    expect(sealed.enc).toEqual(enc);
    expect(sealed.kemCiphertext).toEqual(kem.ciphertext);
    expect(sealed.streamKey).toEqual(ctx.export(te.encode("smsg/1 stream key"), 32));
    // Not base, auth or psk mode: the X25519-only (version 1) context gives another key.
    const { ctx: classical } = setupAuthS(recipient.publicKey, messageInfo(ID, "alice", "bob"), sender.secretKey, { ikmE });
    expect(classical.export(te.encode("smsg/1 stream key"), 32)).not.toEqual(sealed.streamKey);
  });

  // HPKE's exporter never fails: a mismatch shows as a different key, which the first
  // STREAM chunk then refuses with bad-tag.
  test("another id, from, to, either recipient secret, sender pub or ML-KEM ciphertext derives a different key", async () => {
    const sealed = await seal();
    const other = await seal();
    const otherId = ID.slice();
    otherId[15] = ID[15]! ^ 1;
    const rows: [string, Partial<OpenArgs>][] = [
      ["id", { id: otherId }],
      ["from", { from: "mallory" }],
      ["to", { to: "carol" }],
      ["recipient X25519 secret", { recipientSessionSecret: stranger.secretKey }],
      ["recipient ML-KEM key", { recipientSessionKem: strangerKem }],
      ["sender pub", { senderSessionPub: stranger.publicKey }],
      ["another seal's ML-KEM ciphertext", { kemCiphertext: other.kemCiphertext }],
      ["an all-zero ML-KEM ciphertext", { kemCiphertext: new Uint8Array(1088) }],
    ];
    const chunk = new StreamSealer(sealed.streamKey).seal(te.encode("hello"), true);
    expect(new StreamOpener((await openEnvelopeKey(openArgs(sealed))).streamKey).open(chunk, true)).toEqual(te.encode("hello"));
    for (const [what, over] of rows) {
      const key = (await openEnvelopeKey(openArgs(sealed, over))).streamKey;
      expect([what, key]).not.toEqual([what, sealed.streamKey]);
      expectCode(() => new StreamOpener(key).open(chunk, true), "bad-tag");
    }
  });

  test("a low-order enc is low-order; a wrong-length enc, ML-KEM ciphertext or key is malformed", async () => {
    const sealed = await seal();
    const refused = async (args: OpenArgs) => {
      try {
        await openEnvelopeKey(args);
        return "ok";
      } catch (e) {
        return e instanceof ProtocolError ? e.code : String(e);
      }
    };
    expect(await refused(openArgs({ ...sealed, enc: new Uint8Array(32) }))).toBe("low-order");
    expect(await refused(openArgs({ ...sealed, enc: new Uint8Array(31).fill(9) }))).toBe("malformed");
    expect(await refused(openArgs(sealed, { senderSessionPub: new Uint8Array(33) }))).toBe("malformed");
    expect(await refused(openArgs({ ...sealed, kemCiphertext: sealed.kemCiphertext.subarray(1) }))).toBe("malformed");
    expect(await refused(openArgs({ ...sealed, kemCiphertext: new Uint8Array(0) }))).toBe("malformed");
    // The sender refuses a recipient key of the wrong length or one failing FIPS 203's modulus check.
    const sealTo = async (ek: Uint8Array) => {
      try {
        await seal({ recipientSessionKemPub: ek });
        return "ok";
      } catch (e) {
        return e instanceof ProtocolError ? e.code : String(e);
      }
    };
    expect(await sealTo(recipientKem.encapsulationKey.subarray(1))).toBe("malformed");
    expect(await sealTo(new Uint8Array(1184).fill(0xff))).toBe("malformed");
  });
});

describe("envelope properties (fast-check)", () => {
  const bytes = (max: number) => fc.uint8Array({ maxLength: max });
  const id16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
  const userId = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,31}$/);

  test("open(seal(x)) = x for any plaintext, id, sender and recipient", async () => {
    await fc.assert(
      fc.asyncProperty(bytes(3000), id16, userId, userId, async (pt, id, from, to) => {
        const sealed = await seal({ id, from, to });
        const ct = new StreamSealer(sealed.streamKey).seal(pt, true);
        const opened = await openEnvelopeKey(openArgs(sealed, { id, from, to }));
        expect(opened.receiptKey).toEqual(sealed.receiptKey);
        expect(new StreamOpener(opened.streamKey).open(ct, true)).toEqual(pt);
      }),
      { numRuns: 40 },
    );
  });

  test("any flipped bit of the ML-KEM ciphertext or of enc: the message does not open (bad-tag)", async () => {
    const sealed = await seal();
    const ct = new StreamSealer(sealed.streamKey).seal(te.encode("both secrets or nothing"), true);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant("kem" as const), fc.constant("enc" as const)), fc.nat(), async (which, n) => {
        const over = which === "kem" ? { kemCiphertext: flip(sealed.kemCiphertext, n % (1088 * 8)) } : { enc: flip(sealed.enc, n % 256) };
        const { streamKey } = await openEnvelopeKey(openArgs({ ...sealed, ...over }));
        expectCode(() => new StreamOpener(streamKey).open(ct, true), "bad-tag");
      }),
      { numRuns: 60 },
    );
  });
});

const VALID: EnvelopeHeader = {
  v: 1,
  id: "0123456789abcdef0123456789abcdef",
  from: "alice",
  to: ["bob", "carol"],
  date: 1_700_000_000_000,
  subject: "hello",
  body: "body text",
  attachments: [{ name: "report.pdf", size: 12345 }],
};

function parseObject(o: unknown): EnvelopeHeader {
  return parseHeader(te.encode(JSON.stringify(o)));
}

describe("header", () => {
  test("a valid header parses to itself, at every documented limit", () => {
    expect(parseObject(VALID)).toEqual(VALID);
    const atLimits: EnvelopeHeader = {
      ...VALID,
      subject: "s".repeat(MAX_SUBJECT_CHARS),
      date: -1,
      attachments: [
        { name: "é".repeat(MAX_NAME_BYTES >> 1) + "x", size: 0 },
        { name: "a..b", size: Number.MAX_SAFE_INTEGER },
        ...Array.from({ length: MAX_ATTACHMENTS - 2 }, (_, i) => ({ name: `f${i}`, size: i })),
      ],
    };
    expect(te.encode(atLimits.attachments[0]!.name).length).toBe(MAX_NAME_BYTES);
    expect(parseObject(atLimits)).toEqual(atLimits);
  });

  const att = (a: unknown) => ({ ...VALID, attachments: [a] });
  const rejects: [string, unknown][] = [
    ["wrong v", { ...VALID, v: 2 }],
    ["v as a string", { ...VALID, v: "1" }],
    ["missing v", { ...VALID, v: undefined }],
    ["id too short", { ...VALID, id: VALID.id.slice(1) }],
    ["id uppercase", { ...VALID, id: VALID.id.toUpperCase() }],
    ["id not hex", { ...VALID, id: "g".repeat(32) }],
    ["id as bytes", { ...VALID, id: [1, 2, 3] }],
    ["from uppercase", { ...VALID, from: "Alice" }],
    ["from empty", { ...VALID, from: "" }],
    ["from missing", { ...VALID, from: undefined }],
    ["to empty", { ...VALID, to: [] }],
    ["to not a list", { ...VALID, to: "bob" }],
    ["to with a bad id", { ...VALID, to: ["bob", "Eve"] }],
    ["to with a number", { ...VALID, to: [7] }],
    ["date fractional", { ...VALID, date: 1.5 }],
    ["date a string", { ...VALID, date: "2024-01-01" }],
    ["date over 2^53", { ...VALID, date: 2 ** 53 }],
    ["subject too long", { ...VALID, subject: "s".repeat(MAX_SUBJECT_CHARS + 1) }],
    ["subject not a string", { ...VALID, subject: null }],
    ["body not a string", { ...VALID, body: 5 }],
    ["attachments not a list", { ...VALID, attachments: {} }],
    ["too many attachments", { ...VALID, attachments: Array.from({ length: MAX_ATTACHMENTS + 1 }, (_, i) => ({ name: `f${i}`, size: 1 })) }],
    ["attachment name with /", att({ name: "a/b", size: 1 })],
    ["attachment name with \\", att({ name: "a\\b", size: 1 })],
    ["attachment name ..", att({ name: "..", size: 1 })],
    ["attachment name .", att({ name: ".", size: 1 })],
    ["attachment name with NUL", att({ name: "a\u0000b", size: 1 })],
    ["attachment name with newline", att({ name: "a\nb", size: 1 })],
    ["attachment name with DEL", att({ name: "a\u007fb", size: 1 })],
    ["attachment name empty", att({ name: "", size: 1 })],
    ["attachment name over 255 bytes", att({ name: "é".repeat(128), size: 1 })],
    ["attachment name missing", att({ size: 1 })],
    ["attachment size negative", att({ name: "a", size: -1 })],
    ["attachment size fractional", att({ name: "a", size: 0.5 })],
    ["attachment size a string", att({ name: "a", size: "1" })],
    ["attachment null", att(null)],
    ["header is a list", [VALID]],
    ["header is null", null],
  ];
  for (const [what, o] of rejects) {
    test(`rejects ${what}`, () => {
      expectCode(() => parseObject(o), "malformed");
    });
  }

  test("rejects bytes that are not UTF-8 JSON", () => {
    expectCode(() => parseHeader(Uint8Array.of(0xff, 0x7b, 0x7d)), "malformed");
    expectCode(() => parseHeader(te.encode("{not json")), "malformed");
    expectCode(() => parseHeader(new Uint8Array(0)), "malformed");
  });

  test("validateName matches the header rules", () => {
    expect(validateName("résumé 2024.pdf")).toBe("résumé 2024.pdf");
    expectCode(() => validateName("x".repeat(256)), "malformed");
    expectCode(() => validateName("tab\there"), "malformed");
  });

  const unicode = fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 50 }),
    fc.constantFrom("中文邮件主题", "رسالة باللغة العربية", "emoji 🎉👩‍💻🇯🇵", "mixed 你好 مرحبا 👋"),
  );
  const name = fc
    .oneof(fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }), fc.constantFrom("报告.pdf", "صورة.png", "🎵.mp3"))
    .filter((n) => {
      try {
        validateName(n);
        return true;
      } catch {
        return false;
      }
    });
  const header: fc.Arbitrary<EnvelopeHeader> = fc.record({
    v: fc.constant(1),
    id: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("hex")),
    from: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,31}$/),
    to: fc.array(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,31}$/), { minLength: 1, maxLength: 4 }),
    date: fc.integer({ min: 0, max: 2 ** 45 }),
    subject: unicode,
    body: fc.oneof(unicode, fc.string({ unit: "grapheme", maxLength: 2000 })),
    attachments: fc.array(fc.record({ name, size: fc.maxSafeNat() }), { maxLength: 4 }),
  });

  test("encodeHeader/parseHeader round trip over unicode subjects, bodies and names", () => {
    fc.assert(
      fc.property(header, (h) => {
        const enc = encodeHeader(h);
        const len = new DataView(enc.buffer, enc.byteOffset).getUint32(0);
        expect(len).toBe(enc.length - 4);
        expect(parseHeader(enc.subarray(4))).toEqual(h);
      }),
      { numRuns: 200 },
    );
  });
});

describe("streamPlaintextSize", () => {
  const MAX_PT = 5 * STREAM_CHUNK + 17;

  test("inverts streamCiphertextSize", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_PT }), (pt) => {
        expect(streamPlaintextSize(streamCiphertextSize(pt))).toBe(pt);
      }),
      { numRuns: 2000 },
    );
    for (const pt of [0, 1, STREAM_CHUNK - 1, STREAM_CHUNK, STREAM_CHUNK + 1, 2 * STREAM_CHUNK, MAX_PT]) {
      expect(streamPlaintextSize(streamCiphertextSize(pt))).toBe(pt);
    }
  });

  test("is -1 exactly for sizes no plaintext produces", () => {
    for (let ct = 0; ct < 16; ct++) expect(streamPlaintextSize(ct)).toBe(-1);
    expect(streamPlaintextSize(16)).toBe(0);
    // One full chunk then an empty one: the sealer never writes that, nor a last chunk shorter than its tag.
    expect(streamPlaintextSize(STREAM_CHUNK + 16 + 16)).toBe(-1);
    expect(streamPlaintextSize(STREAM_CHUNK + 16 + 1)).toBe(-1);
    expect(streamPlaintextSize(2 * (STREAM_CHUNK + 16) + 16)).toBe(-1);
    expect(streamPlaintextSize(STREAM_CHUNK + 16 + 17)).toBe(STREAM_CHUNK + 1);
    // Exhaustive over the range: each ciphertext size has its plaintext size or none.
    const images = new Set<number>();
    for (let pt = 0; pt <= MAX_PT; pt++) images.add(streamCiphertextSize(pt));
    const maxCt = streamCiphertextSize(MAX_PT);
    let impossible = 0;
    for (let ct = 0; ct <= maxCt; ct++) {
      const pt = streamPlaintextSize(ct);
      if (images.has(ct)) {
        if (streamCiphertextSize(pt) !== ct) throw new Error(`ciphertext size ${ct} maps to ${pt}`);
      } else {
        if (pt !== -1) throw new Error(`impossible ciphertext size ${ct} maps to ${pt}`);
        impossible++;
      }
    }
    // 0..15, and 1..16 bytes past each of the 5 full-chunk boundaries: a non-first last
    // chunk needs its 16-byte tag plus at least one byte.
    expect(impossible).toBe(16 + 5 * 16);
  });
});
