// What a copy and an id's hex cost here, the two primitives the relay's per-message cuts of
// bench/README.md ("Relay CPU per message, third pass") rest on: a 30 KiB record body copied
// to 0..64 bytes past where it lies in a page (as after a 2-byte record length) with `set` in
// one call and with copyInto (pieces of 2 KiB), and a 16-byte id's hex from a table of byte
// pairs and from Uint8Array's own toHex; and for scale, AES-256-GCM over such a record the
// way the relay seals one (a cipher object, update, final, tag). Not part of `npm run bench`.
//
// usage: bun bench/copy-cost.ts [REPS]

import { loadavg } from "node:os";
import { createCipheriv, randomBytes } from "node:crypto";
import { copyInto } from "../src/protocol/bytes.ts";

const reps = Number(process.argv[2] ?? 5000);
const cpu = (f: () => void, n = reps): number => {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
};

console.log(`load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
const dst = new Uint8Array(1 << 20);
const src = new Uint8Array(64 * 1024).fill(7);
const body = src.subarray(0, 29680); // the relay's record of 8 DELIVER+CHUNK, sealed
for (const shift of [0, 2, 16, 32, 64]) {
  const one = cpu(() => dst.set(body, shift));
  const pieces = cpu(() => copyInto(dst, body, shift));
  console.log(`30 KiB to ${String(shift).padStart(2)} bytes on: set ${one.toFixed(2)} us, copyInto ${pieces.toFixed(2)} us`);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const tableHex = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i] as number];
  return s;
};
const record = Uint8Array.from({ length: 30000 }, (_, i) => (i * 7919) & 0xff);
const keys = new Map<string, number>();
// As the relay uses it: a view of an id in a record, its hex the key of a Map lookup.
const hexCost = (hex: (b: Uint8Array) => string) =>
  cpu(() => {
    const at = (keys.size * 37) % 29000;
    keys.set(hex(record.subarray(at, at + 16)), at);
    if (keys.size > 400) keys.clear();
  }, reps * 40);
for (let round = 0; round < 3; round++) {
  console.log(`id hex as a Map key: table ${(hexCost(tableHex) * 1000).toFixed(0)} ns, toHex ${(hexCost((b) => b.toHex()) * 1000).toFixed(0)} ns`);
}

const key = randomBytes(32);
const nonce = randomBytes(12);
const plaintext = new Uint8Array(29680 - 16);
const seal = () => {
  const c = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
  c.update(plaintext);
  c.final();
  c.getAuthTag();
};
for (let round = 0; round < 3; round++) console.log(`AES-256-GCM over a 30 KiB record: ${cpu(seal, reps).toFixed(2)} us`);
