// SPEC.md Appendix B as data (test/vectors/spec-appendix-b.json): one test per case, in the
// manner of age's test vectors, so a second implementation can check itself against the same
// file without reading this code. Each case's `kind` says what to run; `expect` is "ok" or
// "valid" (with the output the input must give) or the code the input must be refused with.

import { describe, expect, test } from "bun:test";
import { Writer, utf8 } from "../../src/protocol/codec.ts";
import { messageInfo, openEnvelopeKey, parseHeader, receiptFor, sealEnvelopeKey, streamPlaintextSize } from "../../src/protocol/envelope.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { concat } from "../../src/protocol/bytes.ts";
import {
  LABEL_ARGON2_SALT,
  decodeRegistrationCode,
  decodeRelayKey,
  deriveUserKeys,
  encodeRegistrationCode,
  encodeRelayKey,
  safetyNumber,
  sessionKeyMessage,
  verifySessionKey,
} from "../../src/protocol/keys.ts";
import { decodeLogin, decodeRelayHello, decodeTransportPlaintext, encodeBatchParts, encodeLogin, encodeMessage, encodeRelayHello, writeMessage } from "../../src/protocol/messages.ts";
import { ClientHandshake, PREAMBLE, RelayHandshake } from "../../src/protocol/handshake.ts";
import { NATIVE_KEM } from "../../src/protocol/noise.ts";
import { mlkemEphemeralFromSeed, mlkemKeyGenFromSeed } from "../../src/protocol/mlkem.ts";
import { setupAuthPSKR } from "../../src/protocol/hpke.ts";
import { mlkemEncapsNoble } from "../support/noble-pq.ts";
import { ed25519PublicKey, ed25519Verify, ed25519VerifyNative, sha256, x25519PublicKey } from "../../src/protocol/primitives.ts";
import { StreamOpener, StreamSealer } from "../../src/protocol/stream.ts";
import { checkUserId } from "../../src/protocol/user-id.ts";
import { hex, loadVectors, toHex } from "./vectors.ts";
import { prekeyMessage, signPrekey, verifyPrekey } from "../../src/protocol/prekeys.ts";
import {
  IDENTITY_CHANGE_LEN,
  decodeIdentityChange,
  encodeIdentityChange,
  identityChangeMessage,
  signIdentityChange,
  verifyIdentityChange,
} from "../../src/protocol/identity-change.ts";


type Case = { section: string; kind: string; comment: string; input: any; expect: string; output?: any; openssl?: string };
const { cases } = loadVectors<{ cases: Case[] }>("spec-appendix-b.json");

/** Runs fn; "ok" if it returns, else the ProtocolError's code (any other error fails the test). */
function outcome(fn: () => void): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
}

const B3 = cases.find((c) => c.kind === "seal")!;

const run: Record<string, (c: Case) => void | Promise<void>> = {
  async "derive-keys"(c) {
    const k = await deriveUserKeys(c.input.user, c.input.password);
    const got: Record<string, string> = {
      salt: toHex(concat(utf8(LABEL_ARGON2_SALT), utf8(c.input.user))),
      login_sk: toHex(k.login.secretKey),
      login_pk: toHex(k.login.publicKey),
      identity_sd: toHex(k.identity.seed),
      identity_pk: toHex(k.identity.publicKey),
      store_key: toHex(k.storeKey),
      registration_code: encodeRegistrationCode(k.login.publicKey),
      relay_key: encodeRelayKey(k.login.publicKey),
    };
    for (const [name, want] of Object.entries(c.output as Record<string, string>)) expect([name, got[name]]).toEqual([name, want]);
  },
  "safety-number"(c) {
    const { user_a, identity_a, user_b, identity_b } = c.input;
    expect(safetyNumber(user_a, hex(identity_a), user_b, hex(identity_b))).toBe(c.output.safety_number);
    expect(safetyNumber(user_b, hex(identity_b), user_a, hex(identity_a))).toBe(c.output.safety_number);
  },
  async "session-key-message"(c) {
    // The ML-KEM half from its seed through the native key generation, then the message.
    expect(toHex((await mlkemKeyGenFromSeed(hex(c.input.session_kem_seed))).encapsulationKey)).toBe(c.input.session_kem_pub);
    const m = sessionKeyMessage(c.input.user, hex(c.input.session_pub), hex(c.input.session_kem_pub), c.input.issued_at);
    expect(toHex(m)).toBe(c.output.message);
    expect(toHex(sha256(m))).toBe(c.output.message_sha256);
  },
  "prekey-message"(c) {
    const i = c.input;
    if (c.expect !== "ok") {
      const key = { identityPub: hex(i.identity_pk), sessionPub: hex(i.pub), sessionKemPub: hex(i.kem_pub), issuedAt: i.issued_at, sig: hex(i.sig) };
      expect(outcome(() => verifyPrekey(i.prekey_kind, i.user, key))).toBe(c.expect);
      return;
    }
    const m = prekeyMessage(i.prekey_kind, i.user, hex(i.pub), hex(i.kem_pub), i.issued_at);
    expect(m.length).toBe(c.output.message_length);
    expect(toHex(sha256(m))).toBe(c.output.message_sha256);
    const seed = hex(i.identity_sd);
    expect(toHex(ed25519PublicKey(seed))).toBe(c.output.identity_pk);
    const sig = signPrekey(i.prekey_kind, seed, i.user, hex(i.pub), hex(i.kem_pub), i.issued_at);
    expect(toHex(sig)).toBe(c.output.sig);
    verifyPrekey(i.prekey_kind, i.user, { identityPub: ed25519PublicKey(seed), sessionPub: hex(i.pub), sessionKemPub: hex(i.kem_pub), issuedAt: i.issued_at, sig });
  },
  "identity-change"(c) {
    const i = c.input;
    if (c.expect !== "ok") {
      const statement = { oldIdentityPub: hex(i.old_identity_pub), newIdentityPub: hex(i.new_identity_pub), changedAt: i.changed_at, sig: hex(i.sig) };
      expect(outcome(() => verifyIdentityChange(i.user, statement))).toBe(c.expect);
      return;
    }
    const o = c.output;
    const oldSeed = hex(i.old_identity_sd);
    expect(toHex(ed25519PublicKey(oldSeed))).toBe(o.old_identity_pub);
    expect(toHex(ed25519PublicKey(hex(i.new_identity_sd)))).toBe(o.new_identity_pub);
    expect(toHex(identityChangeMessage(i.user, hex(o.old_identity_pub), hex(o.new_identity_pub), i.changed_at))).toBe(o.message);
    const statement = signIdentityChange(oldSeed, i.user, hex(o.old_identity_pub), hex(o.new_identity_pub), i.changed_at);
    expect(toHex(statement.sig)).toBe(o.sig);
    verifyIdentityChange(i.user, statement);
    const wire = encodeIdentityChange(statement);
    expect(wire.length).toBe(IDENTITY_CHANGE_LEN);
    expect(toHex(wire)).toBe(o.statement);
    expect(decodeIdentityChange(hex(o.statement))).toEqual(statement);
  },
  async seal(c) {
    const i = c.input;
    const id = hex(i.id);
    const skS = hex(i.sender_session_sk);
    const skR = hex(i.recipient_session_sk);
    const pkS = x25519PublicKey(skS);
    const pkR = x25519PublicKey(skR);
    expect(toHex(pkS)).toBe(c.output.sender_session_pk);
    expect(toHex(pkR)).toBe(c.output.recipient_session_pk);
    expect(toHex(messageInfo(id, i.from, i.to))).toBe(c.output.info);
    // The recipient's session ML-KEM key from its seed, natively; the fixed-m encapsulation
    // through the noble twin (the native one draws m itself).
    const kem = await mlkemEphemeralFromSeed(hex(i.recipient_session_kem_seed));
    expect(toHex(kem.encapsulationKey)).toBe(c.output.recipient_session_kem_pk);
    const sealed = await sealEnvelopeKey({
      id,
      from: i.from,
      to: i.to,
      senderSessionSecret: skS,
      recipientSessionPub: pkR,
      recipientSessionKemPub: kem.encapsulationKey,
      rand: () => hex(i.ikm_e),
      encapsulate: (ek) => mlkemEncapsNoble(ek, hex(i.kem_m)),
    });
    expect(toHex(sealed.enc)).toBe(c.output.enc);
    expect(toHex(sealed.kemCiphertext)).toBe(c.output.kem_ciphertext);
    expect(toHex(await kem.decapsulate(sealed.kemCiphertext))).toBe(c.output.kem_shared_secret);
    expect(toHex(sealed.streamKey)).toBe(c.output.stream_key);
    expect(toHex(sealed.receiptKey)).toBe(c.output.receipt_key);
    expect(toHex(receiptFor(sealed.receiptKey, id))).toBe(c.output.receipt);
    // The key schedule's intermediate values, as RFC 9180 names them.
    const ctx = setupAuthPSKR(sealed.enc, skR, hex(c.output.info), hex(c.output.kem_shared_secret), hex(c.output.kem_ciphertext), pkS);
    expect(toHex(ctx.exporterSecret)).toBe(c.output.exporter_secret);
    const opened = await openEnvelopeKey({
      id,
      from: i.from,
      to: i.to,
      enc: sealed.enc,
      kemCiphertext: sealed.kemCiphertext,
      recipientSessionSecret: skR,
      recipientSessionKem: kem,
      senderSessionPub: pkS,
    });
    expect(toHex(opened.streamKey)).toBe(c.output.stream_key);
    const header = utf8(i.header);
    const plaintext = concat(new Writer().u32(header.length).finish(), header);
    expect(toHex(plaintext.subarray(0, 4))).toBe(c.output.plaintext_prefix);
    const ct = new StreamSealer(sealed.streamKey).seal(plaintext, true);
    expect(toHex(ct)).toBe(c.output.ciphertext);
    expect(toHex(new StreamOpener(opened.streamKey).open(ct, true))).toBe(toHex(plaintext));
    expect(parseHeader(plaintext.subarray(4)).id).toBe(i.id);
    expect(toHex(encodeMessage({ t: "chunk", id, seq: 0, last: true, data: ct }))).toStartWith(c.output.chunk_prefix);
  },
  "session-key-verify"(c) {
    const i = c.input;
    const verdict = outcome(() =>
      verifySessionKey(hex(i.identity_pub), i.user, hex(i.session_pub), hex(i.session_kem_pub), i.issued_at, hex(i.sig)),
    );
    expect(verdict === "ok" ? "valid" : verdict).toBe(c.expect);
  },
  async "seal-open-tampered"(c) {
    // B.3's DELIVER with another kemCiphertext: it opens to other keys, and B.3's chunk fails.
    const i = B3.input;
    const kem = await mlkemEphemeralFromSeed(hex(i.recipient_session_kem_seed));
    const opened = await openEnvelopeKey({
      id: hex(i.id),
      from: i.from,
      to: i.to,
      enc: hex(B3.output.enc),
      kemCiphertext: hex(c.input.kem_ciphertext),
      recipientSessionSecret: hex(i.recipient_session_sk),
      recipientSessionKem: kem,
      senderSessionPub: hex(B3.output.sender_session_pk),
    });
    expect(toHex(opened.streamKey)).not.toBe(B3.output.stream_key);
    expect(outcome(() => new StreamOpener(opened.streamKey).open(hex(B3.output.ciphertext), true))).toBe(c.expect);
  },
  async "seal-to-key"(c) {
    const i = B3.input;
    let verdict = "ok";
    try {
      await sealEnvelopeKey({
        id: hex(i.id),
        from: i.from,
        to: i.to,
        senderSessionSecret: hex(i.sender_session_sk),
        recipientSessionPub: hex(B3.output.recipient_session_pk),
        recipientSessionKemPub: hex(c.input.session_kem_pub),
      });
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      verdict = e.code;
    }
    expect(verdict).toBe(c.expect);
  },
  "transport-plaintext"(c) {
    const bytes = hex(c.input);
    let messages: ReturnType<typeof decodeTransportPlaintext> = [];
    expect(outcome(() => void (messages = decodeTransportPlaintext(bytes)))).toBe(c.expect);
    if (c.expect !== "ok") return;
    const again = bytes[0] === 0x18 ? concat(...encodeBatchParts(messages.map(writeMessage)).parts) : encodeMessage(messages[0]!);
    expect(toHex(again)).toBe(c.input);
  },
  "relay-hello"(c) {
    let h: ReturnType<typeof decodeRelayHello> | undefined;
    expect(outcome(() => void (h = decodeRelayHello(hex(c.input))))).toBe(c.expect);
    if (c.expect !== "ok") return;
    expect(h).toEqual({ version: c.output.version, maxMessageBytes: c.output.max_message_bytes, heartbeatTimeout: c.output.heartbeat_timeout });
    expect(toHex(encodeRelayHello(h!))).toBe(c.input);
  },
  login(c) {
    expect(decodeLogin(hex(c.input))).toEqual({ user: c.output.user });
    expect(toHex(encodeLogin(c.output.user))).toBe(c.input);
  },
  "user-id"(c) {
    expect(outcome(() => checkUserId(c.input))).toBe(c.expect);
  },
  "printable-key"(c) {
    const decode = c.input.hrp === "smsg" ? decodeRegistrationCode : decodeRelayKey;
    let key: Uint8Array = new Uint8Array();
    expect(outcome(() => void (key = decode(c.input.text)))).toBe(c.expect);
    if (c.expect === "ok") expect(toHex(key)).toBe(c.output.key);
  },
  "stream-chunk"(c) {
    const ct = hex(c.input.ciphertext === "B.3" ? B3.output.ciphertext : c.input.ciphertext);
    if (c.input.flip_bit !== undefined) ct[c.input.flip_bit >> 3]! ^= 1 << (c.input.flip_bit & 7);
    expect(outcome(() => void new StreamOpener(hex(c.input.key)).open(ct, c.input.last))).toBe(c.expect);
  },
  "stream-size"(c) {
    expect(streamPlaintextSize(c.input) === -1 ? "malformed" : "ok").toBe(c.expect);
  },
  header(c) {
    let date = 0;
    expect(outcome(() => void (date = parseHeader(utf8(c.input)).date))).toBe(c.expect);
    if (c.output) expect(date).toBe(c.output.date);
  },
  "header-bytes"(c) {
    expect(outcome(() => void parseHeader(hex(c.input)))).toBe(c.expect);
  },
  "ed25519-verify"(c) {
    const args = [hex(c.input.public_key), hex(c.input.message), hex(c.input.signature)] as const;
    expect(ed25519Verify(...args) ? "valid" : "invalid").toBe(c.expect);
    // The relay's OpenSSL filter may accept more (SPEC.md §1.5) but never refuses a valid one.
    expect(ed25519VerifyNative(...args) ? "valid" : "invalid").toBe(c.openssl!);
    if (c.expect === "valid") expect(c.openssl).toBe("valid");
  },
  async handshake(c) {
    // Both sides of the handshake module (§3.1), with the vector's keys pinned: the client's
    // ML-KEM key pair by the native key generation from the seed, the relay's encapsulation
    // with the fixed m by the noble twin (the native one draws m itself).
    const i = c.input;
    const pair = (sk: string) => ({ secretKey: hex(sk), publicKey: x25519PublicKey(hex(sk)) });
    const hello = decodeRelayHello(hex(i.payload2));
    const login = decodeLogin(hex(i.payload3));
    expect(toHex(PREAMBLE)).toBe(i.prologue);
    let kemOutput = "";
    const client = new ClientHandshake({
      login: pair(i.client_static),
      e: pair(i.client_ephemeral),
      kem: { ...NATIVE_KEM, generate: () => mlkemEphemeralFromSeed(hex(i.client_kem_seed)) },
    });
    const relay = new RelayHandshake({
      relayKey: pair(i.relay_static),
      e: pair(i.relay_ephemeral),
      maxMessageBytes: hello.maxMessageBytes,
      heartbeatTimeout: hello.heartbeatTimeout,
      kem: {
        ...NATIVE_KEM,
        encapsulate: async (ek) => {
          expect(toHex(ek)).toBe(c.output.client_kem_ek);
          const out = mlkemEncapsNoble(ek, hex(i.relay_kem_m));
          expect(toHex(out.ciphertext)).toBe(c.output.relay_kem_ciphertext);
          kemOutput = toHex(out.sharedSecret);
          return out;
        },
      },
    });
    const r1 = await client.start();
    expect(toHex(r1)).toBe(c.output.record1);
    const answer = await relay.readFirst(r1);
    if (answer.kind !== "message2") throw new Error("the relay did not answer with message 2");
    expect(kemOutput).toBe(c.output.kem_output);
    expect(toHex(answer.record)).toBe(c.output.record2);
    const reply = await client.readReply(answer.record, hex(c.output.relay_static_pub));
    expect(reply.hello).toEqual(hello);
    const { record: r3, transport: clientTransport } = client.login(login.user);
    expect(toHex(r3)).toBe(c.output.record3);
    const got = relay.readLogin(r3);
    expect([got.user, toHex(got.loginKey)]).toEqual([login.user, c.output.client_static_pub]);
    const heartbeat = (t: typeof clientTransport) => toHex(concat(...t.sealAll([writeMessage({ t: "heartbeat" })])[0]!));
    expect(toHex(hex(i.transport1_plaintext))).toBe("00");
    expect(heartbeat(clientTransport)).toBe(c.output.transport1);
    expect(heartbeat(got.transport)).toBe(c.output.transport2);
  },
};

describe("SPEC.md Appendix B (test/vectors/spec-appendix-b.json)", () => {
  test("every case has a kind this test runs", () => {
    expect(cases.length).toBeGreaterThan(60);
    expect(cases.filter((c) => !Object.hasOwn(run, c.kind)).map((c) => c.kind)).toEqual([]);
  });
  for (const c of cases) {
    test(`${c.section} ${c.kind}: ${c.comment}`, () => run[c.kind]!(c));
  }
});
