// What a hostile relay needs to play a user (SECURITY.md section 5, "first contact"): an
// identity key of its own for that user id, a session key signed with it (SPEC.md §5.1),
// and the two ends of the end-to-end message (§5.2-§5.4): sealing a message as that user,
// and opening one that a sender sealed to the impostor's session key.

import { encodeHeader, openEnvelopeKey, parseHeader, receiptFor, sealEnvelopeKey, type EnvelopeHeader } from "../../src/protocol/envelope.ts";
import { signSessionKey } from "../../src/protocol/keys.ts";
import type { MessageOf, SignedSessionKey } from "../../src/protocol/messages.ts";
import { ed25519PublicKey, randomBytes, x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";
import { MLKEM768_SEED_LENGTH, mlkemDecaps, type MlkemKeyPair } from "../../src/protocol/mlkem.ts";
import { mlkemKeyGenNoble } from "./noble-pq.ts";
import { STREAM_CHUNK, StreamOpener, StreamSealer, streamCiphertextSize } from "../../src/protocol/stream.ts";
import { concat } from "../../src/protocol/bytes.ts";

/** A user id played by someone who is not that user: its own identity and session keys. */
export interface Impostor {
  user: string;
  identity: { seed: Uint8Array; publicKey: Uint8Array };
  session: KeyPair;
  sessionKem: MlkemKeyPair;
  key: SignedSessionKey;
}

/** A session key for `user`, signed by an identity key that is not theirs (ours, or mallory's seed). */
export function makeImpostor(user: string, identitySeed: Uint8Array = randomBytes(32), now = Date.now()): Impostor {
  const session = x25519Generate();
  const { seed, encapsulationKey } = mlkemKeyGenNoble(randomBytes(MLKEM768_SEED_LENGTH));
  const identity = { seed: identitySeed, publicKey: ed25519PublicKey(identitySeed) };
  const key: SignedSessionKey = {
    identityPub: identity.publicKey,
    sessionPub: session.publicKey,
    sessionKemPub: encapsulationKey,
    issuedAt: now,
    sig: signSessionKey(identitySeed, user, session.publicKey, encapsulationKey, now),
  };
  return { user, identity, session, sessionKem: { seed, encapsulationKey }, key };
}

/** The plaintext stream of §5.3: u32 header length, header JSON, attachment bytes. */
export function messagePlaintext(h: EnvelopeHeader, attachments: Uint8Array[] = []): Uint8Array {
  return concat(encodeHeader(h), ...attachments);
}

/** A whole message sealed by `as` to `recipientKey`: the DELIVER and its CHUNKs, ready to post. */
export async function sealAs(args: {
  as: Impostor;
  to: string;
  recipientKey: SignedSessionKey;
  id: Uint8Array;
  plaintext: Uint8Array;
}): Promise<{ deliver: MessageOf<"deliver">; chunks: MessageOf<"chunk">[]; receipt: Uint8Array }> {
  const { enc, kemCiphertext, streamKey, receiptKey } = await sealEnvelopeKey({
    id: args.id,
    from: args.as.user,
    to: args.to,
    senderSessionSecret: args.as.session.secretKey,
    recipientSessionPub: args.recipientKey.sessionPub,
    recipientSessionKemPub: args.recipientKey.sessionKemPub,
  });
  const pt = args.plaintext;
  const sealer = new StreamSealer(streamKey);
  const chunks: MessageOf<"chunk">[] = [];
  for (let seq = 0; ; seq++) {
    const off = seq * STREAM_CHUNK;
    const last = pt.length - off <= STREAM_CHUNK;
    chunks.push({ t: "chunk", id: args.id, seq, last, data: sealer.seal(pt.subarray(off, off + STREAM_CHUNK), last) });
    if (last) break;
  }
  const deliver: MessageOf<"deliver"> = {
    t: "deliver",
    id: args.id,
    from: args.as.user,
    size: streamCiphertextSize(pt.length),
    senderKey: args.as.key,
    recipientSessionPub: args.recipientKey.sessionPub,
    enc,
    kemCiphertext,
  };
  return { deliver, chunks, receipt: receiptFor(receiptKey, args.id) };
}

/** The impostor's end of a message sealed to its session key: it reads everything. */
export class Interception {
  readonly send: MessageOf<"send">;
  readonly from: string;
  readonly as: Impostor;
  /** The receipt the sender expects: the impostor can compute it (SPEC.md §6.4). */
  readonly receipt: Uint8Array;
  plaintext: Uint8Array | undefined;
  header: EnvelopeHeader | undefined;
  error: unknown;
  #opener: StreamOpener;
  #parts: Uint8Array[] = [];

  private constructor(from: string, send: MessageOf<"send">, as: Impostor, keys: { streamKey: Uint8Array; receiptKey: Uint8Array }) {
    this.from = from;
    this.send = send;
    this.as = as;
    this.#opener = new StreamOpener(keys.streamKey);
    this.receipt = receiptFor(keys.receiptKey, send.id);
  }

  /** Opens the envelope with the impostor's two session secrets, as the recipient would. */
  static async open(from: string, send: MessageOf<"send">, as: Impostor): Promise<Interception> {
    const keys = await openEnvelopeKey({
      id: send.id,
      from,
      to: send.to,
      enc: send.enc,
      kemCiphertext: send.kemCiphertext,
      recipientSessionSecret: as.session.secretKey,
      recipientSessionKem: { decapsulate: (ct) => mlkemDecaps(as.sessionKem.seed, ct) },
      senderSessionPub: send.senderKey.sessionPub,
    });
    return new Interception(from, send, as, keys);
  }

  /** Returns true once the last chunk has opened and the header is parsed. */
  chunk(m: MessageOf<"chunk">): boolean {
    this.#parts.push(this.#opener.open(m.data, m.last));
    if (!m.last) return false;
    const pt = concat(...this.#parts);
    const len = new DataView(pt.buffer, pt.byteOffset).getUint32(0);
    this.plaintext = pt;
    this.header = parseHeader(pt.subarray(4, 4 + len));
    return true;
  }
}
