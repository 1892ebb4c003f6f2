// Transport records after the handshake (SPEC.md §2.3, §4.4): each record is one Noise
// transport message whose plaintext is one encoded Message, or a BATCH of several. The two
// CipherStates come from Split() in handshake.ts, which names their directions;
// src/net/outgoing.ts decides what is sealed together.

import type { CipherState } from "./noise.ts";
import { Writer } from "./codec.ts";
import { decodeTransportPlaintext, encodeBatchParts, writeMessage, type Message } from "./messages.ts";
import { ProtocolError } from "./errors.ts";
import { NOISE_MAX_MESSAGE } from "./noise.ts";

const EMPTY = new Uint8Array(0);
/** Largest plaintext a transport record can carry: 65535 minus the 16-byte tag. */
export const MAX_PLAINTEXT = NOISE_MAX_MESSAGE - 16;
/** A BATCH's type byte, and each item's length. */
const BATCH_HEAD = 1;
export const ITEM_HEAD = 2;

/** The two directions of a connection, named from this side. */
export interface TransportKeys {
  send: CipherState;
  receive: CipherState;
}

/**
 * Where sealAll joins a record's small fields before encrypting them: encryption copies them
 * out at once, so one buffer serves every record of the process, where a fresh one per record
 * (30 KiB for the relay's batch of 8 messages) was allocated, zeroed and collected each time.
 */
const JOIN = new Uint8Array(MAX_PLAINTEXT);

export class Transport {
  /** Seals what this side sends; public for test doubles that seal raw plaintexts. */
  readonly send: CipherState;
  readonly receive: CipherState;

  constructor(keys: TransportKeys) {
    this.send = keys.send;
    this.receive = keys.receive;
  }

  /**
   * Messages (as writeMessage gave them, each checked by `encode`) as few records as fit, in
   * order: neighbours share a BATCH while it stays within a record, a message alone is sent as
   * itself. Each record comes as pieces to be written one after another: a chunk's data is
   * encrypted where it lies and the result is not joined here (the socket's writer joins once).
   */
  sealAll(items: readonly Writer[]): Uint8Array[][] {
    const records: Uint8Array[][] = [];
    let group: Writer[] = [];
    let groupLength = BATCH_HEAD;
    const seal = () => {
      if (group.length === 0) return;
      const { parts, length } = group.length === 1 ? group[0]!.finishParts(JOIN) : encodeBatchParts(group, JOIN);
      records.push(this.send.encryptPartsWithAd(EMPTY, parts, length));
      group = [];
      groupLength = BATCH_HEAD;
    };
    for (const item of items) {
      if (groupLength + ITEM_HEAD + item.length > MAX_PLAINTEXT) seal();
      group.push(item);
      groupLength += ITEM_HEAD + item.length;
    }
    seal();
    return records;
  }

  /**
   * A record's Messages, in order (one, or a batch's); with `items`, each one's bytes as
   * well (views into the record's plaintext), for a relay that passes them on as they came.
   */
  open(record: Uint8Array, items?: Uint8Array[]): Message[] {
    return decodeTransportPlaintext(this.receive.decryptWithAd(EMPTY, record), items);
  }

  /** open's Messages and the plaintext they were decoded from (a new buffer; their bytes are views of it). */
  openPlaintext(record: Uint8Array): { plaintext: Uint8Array; messages: Message[] } {
    const plaintext = this.receive.decryptWithAd(EMPTY, record);
    return { plaintext, messages: decodeTransportPlaintext(plaintext) };
  }
}

/** A Message encoded for sealAll; too-large here, where the caller can still hear it. */
export function encode(m: Message): Writer {
  return checkEncoded(writeMessage(m));
}

/**
 * A message as it was received (decodeTransportPlaintext's items): decoding accepts one
 * encoding per message, so these are the bytes `encode` would give, without writing them again.
 */
export function encoded(bytes: Uint8Array): Writer {
  return new Writer().bytes(bytes);
}

/** A message written by the caller is sent only if it fits in a record. */
export function checkEncoded(w: Writer): Writer {
  if (w.length > MAX_PLAINTEXT) throw new ProtocolError("too-large", `message of ${w.length} bytes`);
  return w;
}
