// Two ends of one transport direction for the codec-level tests, keyed alike with no
// handshake: what the sender seals, the receiver opens; `plaintext` peeks inside each record.

import { CipherState } from "../../src/protocol/noise.ts";
import { Transport } from "../../src/protocol/transport.ts";
import { MSG_ID_LEN, type Message } from "../../src/protocol/messages.ts";
import { concat } from "../../src/protocol/framing.ts";

const KEY = new Uint8Array(32).fill(9);
export const MESSAGE_ID = new Uint8Array(MSG_ID_LEN).fill(0x5a);

function cipher(): CipherState {
  const c = new CipherState();
  c.initializeKey(KEY);
  return c;
}

export function transportPair() {
  const peek = cipher();
  return {
    sender: new Transport({ send: cipher(), receive: cipher() }),
    receiver: new Transport({ send: cipher(), receive: cipher() }),
    plaintext: (record: Uint8Array[]) => peek.decryptWithAd(new Uint8Array(0), concat(...record)),
  };
}

/** A CHUNK of n bytes (filled with seq's low byte), the size of a message under test. */
export const chunkOf = (n: number, seq = 0): Message => ({ t: "chunk", id: MESSAGE_ID, seq, last: false, data: new Uint8Array(n).fill(seq & 0xff) });
