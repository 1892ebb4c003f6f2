// Transport messages and handshake payloads (SPEC.md §3, §4): every variant round trips,
// every encoding is the only one (no truncation, trailing byte, bad enum, bad UTF-8 or
// bad user id is accepted), and random bytes never raise anything but ProtocolError.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError } from "../../src/protocol/errors.ts";
import {
  MSG_ID_LEN,
  T,
  decodeLogin,
  decodeMessage,
  decodeRelayHello,
  decodeTransportPlaintext,
  SendInPlace,
  encodeBatchParts,
  encodeLogin,
  encodeMessage,
  encodeRelayHello,
  writeChunk,
  writeMessage,
} from "../../src/protocol/messages.ts";
import type { Message, MessageOf, SignedSessionKey } from "../../src/protocol/messages.ts";
import { isUserId } from "../../src/protocol/user-id.ts";
import type { IdentityChange } from "../../src/protocol/identity-change.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { expectCode } from "./vectors.ts";

// --- arbitraries ---

const userId = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,31}$/);
const msgId = fc.uint8Array({ minLength: MSG_ID_LEN, maxLength: MSG_ID_LEN });
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.maxSafeNat();
const text = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom("", "你好，世界", "مرحبا بالعالم", "👩‍👩‍👧‍👦 🎉", "\u0000\u{10ffff}"),
);
const signedKey: fc.Arbitrary<SignedSessionKey> = fc.record({
  identityPub: bytes32,
  sessionPub: bytes32,
  sessionKemPub: fc.uint8Array({ minLength: 1184, maxLength: 1184 }),
  issuedAt: u64,
  sig: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});
const kemCiphertext = fc.uint8Array({ minLength: 1088, maxLength: 1088 });
/** The fields SEND, POST and DELIVER share (messages.ts SealedHead). */
const sealedHead = { id: msgId, size: u64, senderKey: signedKey, recipientSessionPub: bytes32, enc: bytes32, kemCiphertext };
const users = fc.array(userId, { maxLength: 8 });
const identityChange: fc.Arbitrary<IdentityChange> = fc.record({
  oldIdentityPub: bytes32,
  newIdentityPub: bytes32,
  changedAt: u64,
  sig: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});

const LOGIN_STATUS = ["ok", "auth-failed", "rate-limited", "disabled", "busy"] as const;
const ACK_STATUS = ["stored", "duplicate", "identity-changed", "rejected"] as const;
const FAIL_REASON = ["offline", "unknown-user", "too-large", "recipient-gone", "aborted", "busy", "stale-key", "rate-limited", "over-quota", "no-mailbox", "relay-full"] as const;
const ERROR_CODE = ["malformed", "too-large", "window", "limit", "shutdown", "replaced"] as const;

const byVariant: { [K in Message["t"]]: fc.Arbitrary<Extract<Message, { t: K }>> } = {
  heartbeat: fc.constant({ t: "heartbeat" as const }),
  loginResult: fc.record({ t: fc.constant("loginResult" as const), status: fc.constantFrom(...LOGIN_STATUS), reason: text }),
  publishKey: fc.record({ t: fc.constant("publishKey" as const), key: signedKey }),
  who: fc.record({ t: fc.constant("who" as const), req: u32 }),
  whoReply: fc.record({ t: fc.constant("whoReply" as const), req: u32, users }),
  watch: fc.record({ t: fc.constant("watch" as const), all: fc.boolean(), users }),
  presence: fc.record({ t: fc.constant("presence" as const), user: userId, online: fc.boolean() }),
  getKey: fc.record({ t: fc.constant("getKey" as const), req: u32, user: userId }),
  key: fc.oneof(
    fc.record({ t: fc.constant("key" as const), req: u32, user: userId, status: fc.constant("online" as const), key: signedKey }),
    fc.record({ t: fc.constant("key" as const), req: u32, user: userId, status: fc.constantFrom("offline" as const, "unknown" as const) }),
  ),
  send: fc.record({ t: fc.constant("send" as const), to: userId, ...sealedHead }),
  deliver: fc.record({ t: fc.constant("deliver" as const), from: userId, ...sealedHead }),
  chunk: fc.record({
    t: fc.constant("chunk" as const),
    id: msgId,
    seq: u32,
    last: fc.boolean(),
    data: fc.uint8Array({ maxLength: 200 }),
  }),
  ack: fc.record({ t: fc.constant("ack" as const), id: msgId, status: fc.constantFrom(...ACK_STATUS), receipt: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
  window: fc.record({ t: fc.constant("window" as const), id: msgId, seq: u32, limit: u32 }),
  sendFailed: fc.record({ t: fc.constant("sendFailed" as const), id: msgId, reason: fc.constantFrom(...FAIL_REASON) }),
  abort: fc.record({ t: fc.constant("abort" as const), id: msgId }),
  error: fc.record({ t: fc.constant("error" as const), code: fc.constantFrom(...ERROR_CODE), reason: text }),
  changeCode: fc.record({ t: fc.constant("changeCode" as const), req: u32, code: bytes32, change: identityChange }),
  changeResult: fc.record({ t: fc.constant("changeResult" as const), req: u32, status: fc.constantFrom("ok" as const, "refused" as const, "rate-limited" as const), reason: text }),
  getChanges: fc.record({ t: fc.constant("getChanges" as const), req: u32, user: userId }),
  changes: fc.record({ t: fc.constant("changes" as const), req: u32, user: userId, changes: fc.array(identityChange, { maxLength: 16 }) }),
  publishPrekeys: fc.record({ t: fc.constant("publishPrekeys" as const), signed: signedKey, replace: fc.boolean(), oneTime: fc.array(signedKey, { maxLength: 3 }) }),
  prekeyState: fc.record({ t: fc.constant("prekeyState" as const), oneTime: fc.integer({ min: 0, max: 0xffff }), signedPub: bytes32, retention: u32 }),
  getBundle: fc.record({ t: fc.constant("getBundle" as const), req: u32, user: userId }),
  bundle: fc.oneof(
    fc.record({ t: fc.constant("bundle" as const), req: u32, user: userId, status: fc.constant("ok" as const), signed: signedKey }),
    fc.record({ t: fc.constant("bundle" as const), req: u32, user: userId, status: fc.constant("ok" as const), signed: signedKey, oneTime: signedKey }),
    fc.record({ t: fc.constant("bundle" as const), req: u32, user: userId, status: fc.constantFrom("unknown" as const, "none" as const, "unavailable" as const) }),
  ),
  post: fc.record({ t: fc.constant("post" as const), to: userId, ...sealedHead }),
  held: fc.record({ t: fc.constant("held" as const), id: msgId }),
  notice: fc.record({
    t: fc.constant("notice" as const),
    id: msgId,
    to: userId,
    kind: fc.constantFrom("receipt" as const, "expired" as const),
    status: fc.constantFrom(...ACK_STATUS),
    receipt: bytes32,
  }),
  noticeDone: fc.record({ t: fc.constant("noticeDone" as const), id: msgId, to: userId }),
};
const anyMessage: fc.Arbitrary<Message> = fc.oneof(...Object.values(byVariant));
const encodeMessageParts = (m: Message) => writeMessage(m).finishParts();
/** A message's fields as a plain object: a SendInPlace's (and its DELIVER's) are read from their bytes. */
function fieldsOf(m: Message): Message {
  if (m.t !== "send" && m.t !== "deliver") return m;
  const head = { id: m.id, size: m.size, senderKey: { ...m.senderKey }, recipientSessionPub: m.recipientSessionPub, enc: m.enc, kemCiphertext: m.kemCiphertext };
  return m.t === "send" ? { t: "send", to: m.to, ...head } : { t: "deliver", from: m.from, ...head };
}
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** decodeMessage's outcome: the message, or the ProtocolError code; anything else fails the test. */
function tryDecode(b: Uint8Array): { ok: true; m: Message } | { ok: false; code: string } {
  try {
    return { ok: true, m: decodeMessage(b) };
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return { ok: false, code: e.code };
  }
}

const KEY: SignedSessionKey = {
  identityPub: new Uint8Array(32).fill(1),
  sessionPub: new Uint8Array(32).fill(2),
  sessionKemPub: new Uint8Array(1184).fill(4),
  issuedAt: 1_700_000_000_000,
  sig: new Uint8Array(64).fill(3),
};
const ID = new Uint8Array(MSG_ID_LEN).fill(0xab);

describe("message codec", () => {
  test("the hybrid session key's sizes are SPEC §4's: key 1320, PUBLISH_KEY 1321, KEY 7 + n + 1320, SEND/DELIVER 2498 + n", () => {
    const kemCiphertext = new Uint8Array(1088).fill(5);
    expect(encodeMessage({ t: "publishKey", key: KEY }).length).toBe(1321);
    expect(encodeMessage({ t: "key", req: 1, user: "bob", status: "online", key: KEY }).length).toBe(7 + 3 + 1320);
    const fields = { id: ID, size: 1, senderKey: KEY, recipientSessionPub: KEY.sessionPub, enc: KEY.sessionPub, kemCiphertext };
    const send = encodeMessage({ t: "send", to: "bob", ...fields });
    expect(send.length).toBe(2498 + 3);
    expect(encodeMessage({ t: "deliver", from: "alice", ...fields }).length).toBe(2498 + 5);
    // The ML-KEM ciphertext is the last field, after enc.
    expect(send.subarray(-1088)).toEqual(kemCiphertext);
    expect(send.subarray(-1088 - 32, -1088)).toEqual(KEY.sessionPub);
    expect(decodeMessage(send)).toEqual({ t: "send", to: "bob", ...fields });
  });

  test("a key or SEND without its ML-KEM half (version 1's layout) is malformed, as is one byte short or over", () => {
    const publish = encodeMessage({ t: "publishKey", key: KEY });
    // identityPub || sessionPub || issuedAt || sig: the classical 136-byte key.
    const classical = new Uint8Array([T.publishKey, ...KEY.identityPub, ...KEY.sessionPub, ...publish.subarray(-72)]);
    expect(classical.length).toBe(137);
    expectCode(() => decodeMessage(classical), "malformed");
    expectCode(() => decodeMessage(publish.subarray(0, publish.length - 1)), "malformed");
    expectCode(() => decodeMessage(new Uint8Array([...publish, 0])), "malformed");
    const send = encodeMessage({ t: "send", id: ID, to: "bob", size: 1, senderKey: KEY, recipientSessionPub: KEY.sessionPub, enc: KEY.sessionPub, kemCiphertext: new Uint8Array(1088) });
    expectCode(() => decodeMessage(send.subarray(0, send.length - 1088)), "malformed");
    expectCode(() => encodeMessage({ t: "send", id: ID, to: "bob", size: 1, senderKey: KEY, recipientSessionPub: KEY.sessionPub, enc: KEY.sessionPub, kemCiphertext: new Uint8Array(1087) }), "malformed");
    expectCode(() => encodeMessage({ t: "publishKey", key: { ...KEY, sessionKemPub: new Uint8Array(32) } }), "malformed");
  });

  test("the type table is one byte per variant, all distinct", () => {
    const codes = Object.values(T);
    expect(new Set(codes).size).toBe(codes.length);
    expect(Object.keys(T).sort()).toEqual([...Object.keys(byVariant), "batch"].sort());
  });

  for (const [name, arb] of Object.entries(byVariant)) {
    test(`${name}: decode(encode(m)) = m, and the first byte is its type`, () => {
      fc.assert(
        fc.property(arb as fc.Arbitrary<Message>, (m) => {
          const enc = encodeMessage(m);
          expect(enc[0]).toBe(T[m.t]);
          expect(decodeMessage(enc)).toEqual(m);
        }),
        { numRuns: 100 },
      );
    });
  }

  test("writeMessage(m).finishParts(): the same bytes in pieces, a chunk's large data passed on uncopied", () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        const { parts, length } = encodeMessageParts(m);
        const enc = encodeMessage(m);
        expect(length).toBe(enc.length);
        expect(concat(...parts)).toEqual(enc);
        if (m.t === "chunk") expect(parts.includes(m.data)).toBe(m.data.length >= 4096);
      }),
      { numRuns: 300 },
    );
    const data = new Uint8Array(61456).fill(5);
    const { parts } = encodeMessageParts({ t: "chunk", id: ID, seq: 3, last: false, data });
    expect(parts).toHaveLength(2); // the fields before it joined into one piece, then the data itself
    expect(parts[1]).toBe(data);
  });

  test("every strict prefix is malformed, except a chunk cut inside its data, which is another chunk", () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        const enc = encodeMessage(m);
        const chunkHeader = 1 + MSG_ID_LEN + 4 + 1;
        for (let n = 0; n < enc.length; n++) {
          const r = tryDecode(enc.subarray(0, n));
          if (m.t === "chunk" && n >= chunkHeader) {
            expect(r.ok).toBe(true);
            if (r.ok) {
              expect(r.m).not.toEqual(m);
              expect(r.m).toEqual({ ...m, data: m.data.subarray(0, n - chunkHeader) });
            }
          } else {
            expect(r).toEqual({ ok: false, code: "malformed" });
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test("a trailing byte is malformed (a chunk just carries it as data)", () => {
    fc.assert(
      fc.property(anyMessage, fc.integer({ min: 0, max: 255 }), (m, extra) => {
        const longer = concat(encodeMessage(m), Uint8Array.of(extra));
        if (m.t === "chunk") {
          expect(decodeMessage(longer)).toEqual({ ...m, data: concat(m.data, Uint8Array.of(extra)) });
        } else {
          expectCode(() => decodeMessage(longer), "malformed");
        }
      }),
      { numRuns: 300 },
    );
  });

  test("an empty message and every unknown type byte are malformed (BATCH is not a Message)", () => {
    expectCode(() => decodeMessage(new Uint8Array(0)), "malformed");
    const known = new Set<number>(Object.values(T).filter((t) => t !== T.batch));
    let unknown = 0;
    for (let t = 0; t < 256; t++) {
      if (known.has(t)) continue;
      unknown++;
      expectCode(() => decodeMessage(Uint8Array.of(t)), "malformed");
      expectCode(() => decodeMessage(concat(Uint8Array.of(t), new Uint8Array(200))), "malformed");
    }
    expect(unknown).toBe(256 - (Object.keys(T).length - 1));
  });

  test("invalid UTF-8 or a non-canonical user id is malformed", () => {
    const presence = (user: Uint8Array) => concat(Uint8Array.of(T.presence, user.length), user, Uint8Array.of(1));
    // Control: the same layout with a valid id decodes.
    expect(decodeMessage(presence(new TextEncoder().encode("alice")))).toEqual({ t: "presence", user: "alice", online: true });
    for (const bad of [
      [0xff],
      [0x61, 0xc3], // truncated 2-byte sequence
      [0xc0, 0xaf], // overlong "/"
      [0xed, 0xa0, 0x80], // UTF-16 surrogate
      [0x61, 0x80, 0x62], // lone continuation byte
    ]) {
      expectCode(() => decodeMessage(presence(Uint8Array.from(bad))), "malformed");
    }
    for (const bad of ["", "Alice", "é", "-bob", ".x", "a b", "a/b", "a".repeat(33)]) {
      expect(isUserId(bad)).toBe(false);
      expectCode(() => decodeMessage(presence(new TextEncoder().encode(bad))), "malformed");
      expectCode(() => encodeMessage({ t: "presence", user: bad, online: true }), "malformed");
    }
    // A user id inside a list, and in the SEND/DELIVER peer field.
    expectCode(() => decodeMessage(Uint8Array.of(T.whoReply, 0, 0, 0, 1, 0, 1, 1, 0xff)), "malformed");
    const send = encodeMessage({ t: "send", id: ID, to: "bob", size: 1, senderKey: KEY, recipientSessionPub: KEY.sessionPub, enc: KEY.sessionPub, kemCiphertext: new Uint8Array(1088) });
    const badSend = send.slice();
    badSend[1 + MSG_ID_LEN + 1] = 0x42; // "bob" -> "Bob"
    expectCode(() => decodeMessage(badSend), "malformed");
    // Free-text reasons must be UTF-8 too.
    expectCode(() => decodeMessage(Uint8Array.of(T.loginResult, 0, 0, 2, 0xc3, 0x28)), "malformed");
    expectCode(() => decodeMessage(Uint8Array.of(T.error, 0, 0, 1, 0xfe)), "malformed");
  });

  test("a leading U+FEFF in a reason survives: one encoding per message", () => {
    const m: Message = { t: "loginResult", status: "ok", reason: "\ufeffhello" };
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
    const wire = Uint8Array.of(T.error, 0, 0, 4, 0xef, 0xbb, 0xbf, 0x41);
    expect(encodeMessage(decodeMessage(wire))).toEqual(wire);
  });

  test("out-of-range enum and boolean bytes are malformed", () => {
    const rows: [string, Uint8Array][] = [
      ["loginResult status", Uint8Array.of(T.loginResult, LOGIN_STATUS.length, 0, 0)],
      ["loginResult status 0xff", Uint8Array.of(T.loginResult, 0xff, 0, 0)],
      ["key status", concat(Uint8Array.of(T.key, 0, 0, 0, 1, 1, 0x61), Uint8Array.of(3))],
      ["ack status", concat(Uint8Array.of(T.ack), ID, Uint8Array.of(ACK_STATUS.length), new Uint8Array(32))],
      ["sendFailed reason", concat(Uint8Array.of(T.sendFailed), ID, Uint8Array.of(FAIL_REASON.length))],
      ["error code", Uint8Array.of(T.error, ERROR_CODE.length, 0, 0)],
      ["watch all = 2", Uint8Array.of(T.watch, 2, 0, 0)],
      ["presence online = 2", Uint8Array.of(T.presence, 1, 0x61, 2)],
      ["chunk last = 2", concat(Uint8Array.of(T.chunk), ID, Uint8Array.of(0, 0, 0, 0, 2))],
    ];
    for (const [, wire] of rows) expectCode(() => decodeMessage(wire), "malformed");
    // Controls: the highest valid value in each slot decodes.
    expect(decodeMessage(Uint8Array.of(T.loginResult, LOGIN_STATUS.length - 1, 0, 0))).toEqual({ t: "loginResult", status: "busy", reason: "" });
    expect(decodeMessage(concat(Uint8Array.of(T.ack), ID, Uint8Array.of(ACK_STATUS.length - 1), new Uint8Array(32)))).toEqual({ t: "ack", id: ID, status: "rejected", receipt: new Uint8Array(32) });
    expect(decodeMessage(Uint8Array.of(T.watch, 1, 0, 0))).toEqual({ t: "watch", all: true, users: [] });
  });

  test("a u64 over 2^53-1 is malformed", () => {
    const pk = encodeMessage({ t: "publishKey", key: { ...KEY, issuedAt: Number.MAX_SAFE_INTEGER } });
    expect(decodeMessage(pk)).toEqual({ t: "publishKey", key: { ...KEY, issuedAt: Number.MAX_SAFE_INTEGER } });
    const over = pk.slice();
    over.set([0x00, 0x20, 0, 0, 0, 0, 0, 0], 1 + 64 + 1184); // 2^53, issuedAt after both halves of the key
    expectCode(() => decodeMessage(over), "malformed");
    const huge = pk.slice();
    huge.fill(0xff, 1 + 64 + 1184, 1 + 72 + 1184);
    expectCode(() => decodeMessage(huge), "malformed");
  });

  test("encode refuses what it could not decode", () => {
    expectCode(() => encodeMessage({ t: "abort", id: new Uint8Array(15) }), "malformed");
    expectCode(() => encodeMessage({ t: "publishKey", key: { ...KEY, sig: new Uint8Array(63) } }), "malformed");
    expectCode(() => encodeMessage({ t: "publishKey", key: { ...KEY, issuedAt: -1 } }), "malformed");
    expectCode(() => encodeMessage({ t: "publishKey", key: { ...KEY, issuedAt: 2 ** 53 } }), "malformed");
    expectCode(() => encodeMessage({ t: "key", req: 1, user: "bob", status: "online" }), "malformed");
    expectCode(() => encodeMessage({ t: "ack", id: ID, status: "lost" as "stored", receipt: new Uint8Array(32) }), "malformed");
    expectCode(() => encodeMessage({ t: "loginResult", status: "ok", reason: "x".repeat(0x10000) }), "too-large");
  });

  test("random bytes decode to a message that re-encodes to the same bytes, or raise ProtocolError", () => {
    const types = Object.values(T);
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom(...types), fc.uint8Array({ maxLength: 300 })).map(([t, rest]) => concat(Uint8Array.of(t), rest)),
    );
    let decoded = 0;
    fc.assert(
      fc.property(arb, (b) => {
        const r = tryDecode(b);
        if (r.ok) {
          decoded++;
          expect(encodeMessage(r.m)).toEqual(b);
        } else {
          expect(r.code).toBe("malformed");
        }
      }),
      { numRuns: 2000 },
    );
    // The fuzz reached past the type byte at least sometimes (heartbeat, chunk, short bodies).
    expect(decoded).toBeGreaterThan(0);
  });
});

describe("SPEC.md Appendix B.4 encodings", () => {
  const id = hex("000102030405060708090a0b0c0d0e0f");
  const receipt = hex("2a844434a13cef68769fbf04e09935965adebcd4478de403ef52dc7e205090b1");
  const cases: [string, Message, string][] = [
    ["HEARTBEAT", { t: "heartbeat" }, "00"],
    ["PRESENCE", { t: "presence", user: "bob", online: true }, "06 03626f62 01"],
    ["WINDOW", { t: "window", id, seq: 8, limit: 24 }, "14 000102030405060708090a0b0c0d0e0f 00000008 00000018"],
    ["ACK stored", { t: "ack", id, status: "stored", receipt }, "13 000102030405060708090a0b0c0d0e0f 00" + toHex(receipt)],
    ["ACK rejected", { t: "ack", id, status: "rejected", receipt: new Uint8Array(32) }, "13 000102030405060708090a0b0c0d0e0f 03" + "00".repeat(32)],
    ["ERROR", { t: "error", code: "replaced", reason: "" }, "17 05 0000"],
  ];
  for (const [name, m, bytes] of cases) {
    test(`${name} is ${bytes.slice(0, 20)}...`, () => {
      expect(toHex(encodeMessage(m))).toBe(bytes.replace(/\s+/g, ""));
      expect(decodeMessage(hex(bytes))).toEqual(m);
    });
  }
  test("BATCH(HEARTBEAT, WINDOW(id, 8, 24)) is 18 0001 00 0019 14 <id> 00000008 00000018", () => {
    const batch = "18 0001 00 0019 14 000102030405060708090a0b0c0d0e0f 00000008 00000018";
    const { parts } = encodeBatchParts([writeMessage({ t: "heartbeat" }), writeMessage({ t: "window", id, seq: 8, limit: 24 })]);
    expect(toHex(concat(...parts))).toBe(batch.replace(/\s+/g, ""));
    expect(decodeTransportPlaintext(hex(batch))).toEqual([{ t: "heartbeat" }, { t: "window", id, seq: 8, limit: 24 }]);
  });
});

describe("batches (SPEC.md §4.4)", () => {
  const batchOf = (ms: Message[]) => concat(...encodeBatchParts(ms.map(writeMessage)).parts);

  test("a plaintext that is not a batch is one message", () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        expect(decodeTransportPlaintext(encodeMessage(m))).toEqual([m]);
      }),
      { numRuns: 200 },
    );
  });

  test("a batch's messages come out in order, any mix and number, a batch of one included", () => {
    fc.assert(
      fc.property(fc.array(anyMessage, { minLength: 1, maxLength: 12 }), (ms) => {
        const enc = batchOf(ms);
        expect(enc[0]).toBe(T.batch);
        expect(enc.length).toBe(1 + ms.reduce((n, m) => n + 2 + encodeMessage(m).length, 0));
        expect(decodeTransportPlaintext(enc)).toEqual(ms);
      }),
      { numRuns: 200 },
    );
  });

  test("a large chunk's data is passed on uncopied inside a batch too", () => {
    const data = new Uint8Array(20_000).fill(7);
    const { parts, length } = encodeBatchParts([writeMessage({ t: "heartbeat" }), writeMessage({ t: "chunk", id: ID, seq: 0, last: true, data })]);
    expect(parts).toContain(data);
    expect(length).toBe(1 + 2 + 1 + 2 + 22 + data.length);
  });

  // sealAll joins a record's small fields into one buffer it reuses (Pieces): the same bytes
  // as a fresh join, the item lengths written there directly, a large field still uncopied.
  test("joined into a reused buffer, a batch or a message gives the bytes of a fresh join", () => {
    const into = new Uint8Array(70_000);
    const large = new Uint8Array(5_000).fill(9);
    fc.assert(
      fc.property(fc.array(anyMessage, { minLength: 1, maxLength: 8 }), fc.boolean(), (ms, withLarge) => {
        const all: Message[] = withLarge ? [...ms, { t: "chunk", id: ID, seq: 1, last: false, data: large }] : ms;
        const fresh = encodeBatchParts(all.map(writeMessage));
        const reused = encodeBatchParts(all.map(writeMessage), into);
        expect(reused.length).toBe(fresh.length);
        expect(concat(...reused.parts)).toEqual(concat(...fresh.parts));
        if (withLarge) expect(reused.parts).toContain(large);
        const one = writeMessage(all[0]!).finishParts(into);
        expect(concat(...one.parts)).toEqual(encodeMessage(all[0]!));
        expect(one.length).toBe(encodeMessage(all[0]!).length);
      }),
      { numRuns: 200 },
    );
  });

  test("SPEC.md Appendix B.5: an empty batch, a cut or empty item, a nested batch, a bad item are malformed", () => {
    for (const bad of [
      "18", // no item
      "18 00", // an item's length cut short
      "18 0001 00 00", // the second item's length cut short
      "18 0000", // an empty item
      "18 0002 00", // an item running past the end
      "18 0001 18", // a batch inside a batch
      "18 0003 18 0001 00", // a batch inside a batch, with an item
      "18 0002 0000", // a heartbeat with a trailing byte
      "18 0001 09", // an undefined type
      "18 0001 00 0001 09", // a good item, then a bad one
    ]) {
      expectCode(() => decodeTransportPlaintext(hex(bad)), "malformed");
    }
  });

  test("with items, each message's bytes come out as well: what encode gives, in order", () => {
    fc.assert(
      fc.property(fc.array(anyMessage, { minLength: 1, maxLength: 12 }), (ms) => {
        const items: Uint8Array[] = [];
        expect(decodeTransportPlaintext(ms.length === 1 ? encodeMessage(ms[0]!) : batchOf(ms), items).map(fieldsOf)).toEqual(ms);
        expect(items).toEqual(ms.map(encodeMessage));
      }),
      { numRuns: 200 },
    );
  });

  test("with items, a SEND is a SendInPlace: its key and sealed fields views into the plaintext, its id a copy; other messages' fields, and without items a SEND's, are copies", () => {
    const send: Message = { t: "send", id: ID, to: "bob", size: 1, senderKey: KEY, recipientSessionPub: new Uint8Array(32).fill(1), enc: new Uint8Array(32).fill(2), kemCiphertext: new Uint8Array(1088).fill(3) };
    const ack: Message = { t: "ack", id: ID, status: "stored", receipt: new Uint8Array(32).fill(4) };
    const plain = batchOf([send, ack]);
    const [inPlace, ackCopied] = decodeTransportPlaintext(plain, []) as [MessageOf<"send">, MessageOf<"ack">];
    const [copied] = decodeTransportPlaintext(plain) as [MessageOf<"send">];
    expect(inPlace).toBeInstanceOf(SendInPlace);
    expect(copied).not.toBeInstanceOf(SendInPlace);
    expect(fieldsOf(inPlace)).toEqual(send);
    for (const f of [inPlace.senderKey.sessionKemPub, inPlace.senderKey.sig, inPlace.recipientSessionPub, inPlace.kemCiphertext]) expect(f.buffer).toBe(plain.buffer);
    for (const f of [inPlace.id, copied.id, copied.senderKey.sessionKemPub, copied.kemCiphertext, ackCopied.id, ackCopied.receipt]) expect(f.buffer).not.toBe(plain.buffer);
    // Also from a Buffer, whose slice is a view: the id a transfer keeps is never one.
    const fromBuffer = Buffer.from(plain);
    const [inBuffer] = decodeTransportPlaintext(fromBuffer, []) as [MessageOf<"send">];
    expect(inBuffer.id.buffer).not.toBe(fromBuffer.buffer);
    expect(inBuffer.id).toEqual(ID);
  });

  test("a SEND decoded in place refuses exactly what the copying decoder refuses (decoding less accepts no more)", () => {
    const valid = encodeMessage({ t: "send", id: ID, to: "bob", size: 1, senderKey: KEY, recipientSessionPub: KEY.sessionPub, enc: KEY.sessionPub, kemCiphertext: new Uint8Array(1088) });
    // The verdict is the decoder's alone: reading a SendInPlace's fields afterwards must not be what refuses it.
    const outcome = (f: () => Message): string => {
      let m: Message;
      try {
        m = f();
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        return `refused: ${e.code}`;
      }
      return JSON.stringify(fieldsOf(m), (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
    };
    const keyAt = 1 + MSG_ID_LEN + 1 + 3 + 8;
    const over53 = Uint8Array.of(0x00, 0x20, 0, 0, 0, 0, 0, 0); // 2^53
    const mutants = [
      valid.subarray(0, valid.length - 1), // one byte short
      concat(valid, Uint8Array.of(0)), // one byte over
      concat(valid.subarray(0, keyAt - 8), over53, valid.subarray(keyAt)), // size over 2^53-1
      concat(valid.subarray(0, keyAt + 1248), over53, valid.subarray(keyAt + 1256)), // the key's issuedAt over 2^53-1
      concat(valid.subarray(0, 1 + MSG_ID_LEN + 1), new TextEncoder().encode("BOB"), valid.subarray(1 + MSG_ID_LEN + 4)), // not a user id
    ];
    for (const b of mutants) {
      expect(outcome(() => decodeMessage(b))).toStartWith("refused: malformed");
      expect(outcome(() => decodeMessage(b, true))).toStartWith("refused: malformed");
    }
    // Any byte changed, anything cut off or added: the same verdict, and the same fields.
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 3 }), (at, v, grow) => {
        const b = valid.slice(0, valid.length + Math.min(grow, 0));
        b[Math.min(at, b.length - 1)] = v;
        const m = grow > 0 ? concat(b, new Uint8Array(grow)) : b;
        expect(outcome(() => decodeMessage(m, true))).toBe(outcome(() => decodeMessage(m)));
      }),
      { numRuns: 500 },
    );
  });

  test("a SendInPlace compares its sender key and recipient key in place, every field of them, and gives its DELIVER spliced", () => {
    const send: MessageOf<"send"> = { t: "send", id: ID, to: "bob", size: 7, senderKey: KEY, recipientSessionPub: new Uint8Array(32).fill(1), enc: new Uint8Array(32).fill(2), kemCiphertext: new Uint8Array(1088).fill(3) };
    const m = decodeMessage(encodeMessage(send), true) as SendInPlace;
    expect(m.sentWith(KEY)).toBe(true);
    const flip = (b: Uint8Array, i: number) => {
      const c = b.slice();
      c[i]! ^= 1;
      return c;
    };
    for (const other of [
      { ...KEY, identityPub: flip(KEY.identityPub, 31) },
      { ...KEY, sessionPub: flip(KEY.sessionPub, 0) },
      { ...KEY, sessionKemPub: flip(KEY.sessionKemPub, 1183) },
      { ...KEY, issuedAt: KEY.issuedAt + 1 },
      { ...KEY, sig: flip(KEY.sig, 63) },
    ]) {
      expect(m.sentWith(other)).toBe(false);
    }
    expect(m.sealedTo(send.recipientSessionPub)).toBe(true);
    expect(m.sealedTo(flip(send.recipientSessionPub, 5))).toBe(false);
    const d = m.deliver("alice");
    const deliver: Message = { ...send, t: "deliver", from: "alice" };
    delete (deliver as { to?: string }).to;
    expect(d.encoded.finish()).toEqual(encodeMessage(deliver));
    expect(fieldsOf(d.m)).toEqual(deliver);
  });

  test("random bytes behind the BATCH type decode to messages that re-encode to the same batch, or raise ProtocolError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (tail) => {
        const b = concat(Uint8Array.of(T.batch), tail);
        let ms: Message[];
        try {
          ms = decodeTransportPlaintext(b);
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
          expect(e.code).toBe("malformed");
          return;
        }
        expect(batchOf(ms)).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("relay hello", () => {
  const hello = fc.record({ version: fc.integer({ min: 0, max: 255 }), maxMessageBytes: u64, heartbeatTimeout: u32 });

  test("round trips in 13 bytes", () => {
    fc.assert(
      fc.property(hello, (h) => {
        const enc = encodeRelayHello(h);
        expect(enc.length).toBe(13);
        expect(decodeRelayHello(enc)).toEqual(h);
      }),
    );
  });

  test("short, long and over-range encodings are malformed", () => {
    const enc = encodeRelayHello({ version: 1, maxMessageBytes: 2 ** 31, heartbeatTimeout: 90 });
    for (let n = 0; n < enc.length; n++) expectCode(() => decodeRelayHello(enc.subarray(0, n)), "malformed");
    expectCode(() => decodeRelayHello(concat(enc, Uint8Array.of(0))), "malformed");
    const over = enc.slice();
    over.fill(0xff, 1, 9);
    expectCode(() => decodeRelayHello(over), "malformed");
    expectCode(() => encodeRelayHello({ version: 1, maxMessageBytes: -1, heartbeatTimeout: 90 }), "malformed");
  });
});

describe("login payload", () => {
  test("round trips every valid user id", () => {
    fc.assert(
      fc.property(userId, (user) => {
        const enc = encodeLogin(user);
        expect(enc[0]).toBe(user.length);
        expect(decodeLogin(enc)).toEqual({ user });
      }),
    );
  });

  test("a bad id, bad UTF-8, a short body or a trailing byte is malformed", () => {
    for (const bad of ["", "Alice", "a".repeat(33), "_a", "ü"]) {
      expectCode(() => encodeLogin(bad), "malformed");
      const b = new TextEncoder().encode(bad);
      expectCode(() => decodeLogin(concat(Uint8Array.of(b.length), b)), "malformed");
    }
    expectCode(() => decodeLogin(Uint8Array.of(1, 0xff)), "malformed");
    expectCode(() => decodeLogin(new Uint8Array(0)), "malformed");
    expectCode(() => decodeLogin(Uint8Array.of(5, 0x61, 0x62)), "malformed");
    expectCode(() => decodeLogin(concat(encodeLogin("alice"), Uint8Array.of(0))), "malformed");
  });

  test("an invite is exactly 32 trailing bytes (SPEC.md §3.1); any other trailing length is malformed", () => {
    fc.assert(
      fc.property(userId, fc.uint8Array({ minLength: 32, maxLength: 32 }), (user, invite) => {
        const enc = encodeLogin(user, invite);
        expect(enc.length).toBe(1 + user.length + 32);
        expect(decodeLogin(enc)).toEqual({ user, invite });
      }),
    );
    for (const n of [1, 16, 31, 33, 64]) {
      expectCode(() => decodeLogin(concat(encodeLogin("alice"), new Uint8Array(n))), "malformed");
    }
    expectCode(() => encodeLogin("alice", new Uint8Array(31)), "malformed");
  });
});

describe("writeChunk", () => {
  test("data in pieces is the same CHUNK as the pieces joined, and decodes to it", () => {
    fc.assert(
      fc.property(msgId, fc.nat({ max: 0xffffffff }), fc.boolean(), fc.array(fc.uint8Array({ maxLength: 5000 }), { maxLength: 4 }), (id, seq, last, pieces) => {
        const data = concat(...pieces);
        const whole = writeMessage({ t: "chunk", id, seq, last, data }).finish();
        expect(writeChunk(id, seq, last, pieces).finish()).toEqual(whole);
        expect(decodeMessage(whole)).toEqual({ t: "chunk", id, seq, last, data });
      }),
      { numRuns: 100 },
    );
  });
});

describe("SendInPlace.deliver", () => {
  test("the DELIVER spliced from a SEND's bytes is the one encoded from its fields", () => {
    fc.assert(
      fc.property(byVariant.send, userId, (send, from) => {
        const { to: _to, t: _t, ...fields } = send;
        const d = (decodeMessage(encodeMessage(send), true) as SendInPlace).deliver(from);
        expect(d.encoded.finish()).toEqual(encodeMessage({ ...fields, t: "deliver", from }));
        expect(fieldsOf(d.m)).toEqual({ ...fields, t: "deliver", from });
      }),
      { numRuns: 100 },
    );
  });

  test("a bad sender is refused", () => {
    const send = encodeMessage({ t: "send", id: ID, to: "bob", size: 1, senderKey: KEY, recipientSessionPub: new Uint8Array(32), enc: new Uint8Array(32), kemCiphertext: new Uint8Array(1088) });
    expectCode(() => (decodeMessage(send, true) as SendInPlace).deliver("Not A User"), "malformed");
  });
});
