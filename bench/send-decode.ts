// What a SEND costs the relay from its bytes to its DELIVER (bench/README.md, "Fourth pass"):
// decoded, its sender key and recipient key checked, its id kept, its DELIVER spliced. Two
// ways in one process, alternating: "views", the decoder the relay had (every byte field a
// view into the record, the keys compared field by field), and "in place", SendInPlace
// (fields compared where they lie). Not part of `npm run bench`.
//
// usage: bun bench/send-decode.ts [ROUNDS] [N]

import { Reader, Writer } from "../src/protocol/codec.ts";
import { bytesEqual } from "../src/protocol/bytes.ts";
import { decodeMessage, encodeMessage, SendInPlace, T, type SignedSessionKey } from "../src/protocol/messages.ts";
import { randomBytes } from "../src/protocol/primitives.ts";

const rounds = Number(process.argv[2] ?? 5);
const n = Number(process.argv[3] ?? 300_000);

const key: SignedSessionKey = { identityPub: randomBytes(32), sessionPub: randomBytes(32), sessionKemPub: randomBytes(1184), issuedAt: 1_700_000_000_000, sig: randomBytes(64) };
const recipient = randomBytes(32);
const send = encodeMessage({ t: "send", id: randomBytes(16), to: "bob", size: 1040, senderKey: key, recipientSessionPub: recipient, enc: randomBytes(32), kemCiphertext: randomBytes(1088) });
// As a batch item: a view into a record's plaintext.
const record = new Uint8Array(30_000);
record.set(send, 100);
const item = record.subarray(100, 100 + send.length);

/** The decoder the relay had: eight views per SEND. */
function decodeViews(b: Uint8Array) {
  const r = new Reader(b, 1);
  const id = r.view(16);
  const to = r.user();
  const size = r.u64();
  const senderKey = { identityPub: r.view(32), sessionPub: r.view(32), sessionKemPub: r.view(1184), issuedAt: r.u64(), sig: r.view(64) };
  const m = { id, to, size, senderKey, recipientSessionPub: r.view(32), enc: r.view(32), kemCiphertext: r.view(1088) };
  r.end();
  return m;
}
const sameKey = (a: SignedSessionKey, b: SignedSessionKey) =>
  bytesEqual(a.identityPub, b.identityPub) && bytesEqual(a.sessionPub, b.sessionPub) && bytesEqual(a.sessionKemPub, b.sessionKemPub) && a.issuedAt === b.issuedAt && bytesEqual(a.sig, b.sig);

const ways: Record<string, () => number> = {
  views: () => {
    const m = decodeViews(item);
    if (!sameKey(key, m.senderKey) || !bytesEqual(recipient, m.recipientSessionPub)) throw new Error("keys differ");
    const id = new Uint8Array(m.id); // the transfer's copy
    const toAt = 1 + 16;
    const w = new Writer().u8(T.deliver).bytes(item.subarray(1, toAt)).user("alice").bytes(item.subarray(toAt + 1 + item[toAt]!));
    return w.length + id.length;
  },
  "in place": () => {
    const m = decodeMessage(item, true) as SendInPlace;
    if (!m.sentWith(key) || !m.sealedTo(recipient)) throw new Error("keys differ");
    return m.deliver("alice").encoded.length + m.id.length;
  },
};

const least: Record<string, number> = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, f] of Object.entries(ways)) {
    let x = 0;
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) x += f();
    const d = process.cpuUsage(t0);
    const ns = ((d.user + d.system) / n) * 1000;
    least[name] = Math.min(least[name] ?? Infinity, ns);
    if (x === 0) throw new Error("nothing done");
  }
}
for (const [name, ns] of Object.entries(least)) console.log(`${name.padEnd(9)} ${ns.toFixed(0)} ns of CPU per SEND (least of ${rounds} rounds of ${n})`);
