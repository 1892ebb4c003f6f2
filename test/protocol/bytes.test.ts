// toHex (src/protocol/bytes.ts), Uint8Array's own toHex, prints every byte as Node's hex does,
// for short arrays (ids) and long ones, and for views at any offset too.

import { expect, test } from "bun:test";
import { bytesEqual, bytesEqualAt, copyBytes, releaseBytes, toHex } from "../../src/protocol/bytes.ts";
import { createCipheriv, randomBytes } from "node:crypto";

test("toHex prints lowercase hex, two digits a byte, for short and long arrays and views", () => {
  const all = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
  for (const n of [0, 1, 15, 16, 63, 64, 65, 256]) {
    for (const at of [0, 3]) {
      const view = all.subarray(at, at + n);
      expect(toHex(view)).toBe(Buffer.from(view).toString("hex"));
    }
  }
  expect(toHex(Uint8Array.of(0x00, 0x0a, 0xff, 0x10))).toBe("000aff10");
  // Every byte value, through the table.
  for (let v = 0; v < 256; v++) expect(toHex(Uint8Array.of(v))).toBe(v.toString(16).padStart(2, "0"));
});

test("copyBytes gives a plain array with its own memory, also for a Buffer's subarray (what the socket delivers)", () => {
  const socketRead = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7]);
  const copy = copyBytes(socketRead.subarray(2, 6));
  expect(Object.getPrototypeOf(copy)).toBe(Uint8Array.prototype);
  expect(copy.byteOffset).toBe(0);
  expect(copy.buffer.byteLength).toBe(4);
  socketRead.fill(0xff);
  expect([...copy]).toEqual([2, 3, 4, 5]);
});

test("bytesEqual: same bytes at any offset are equal; one byte changed anywhere, or another length, is not", () => {
  const all = Uint8Array.from({ length: 3000 }, (_, i) => (i * 37 + 11) & 0xff);
  for (const n of [0, 1, 16, 32, 1320]) {
    const a = all.slice(5, 5 + n);
    const b = Buffer.from(all).subarray(5, 5 + n);
    expect(bytesEqual(a, b)).toBe(true);
    expect(bytesEqual(a, all.subarray(5, 6 + n))).toBe(false);
    for (const at of n === 0 ? [] : [0, n >> 1, n - 1]) {
      const c = a.slice();
      c[at] = c[at]! ^ 1;
      expect(bytesEqual(a, c)).toBe(false);
      expect(bytesEqual(c, a)).toBe(false);
    }
  }
});

test("releaseBytes detaches a large buffer its view covers (what OpenSSL returns for a chunk), and nothing else", () => {
  // A 60 KiB chunk sealed by node:crypto: the view is the whole buffer (OpenSSL's update
  // allocates a byte more), so it goes, and every view of it reads as empty.
  const sealed = createCipheriv("aes-256-gcm", randomBytes(32), randomBytes(12)).update(randomBytes(61440));
  const other = new Uint8Array(sealed.buffer, 100, 10);
  expect(releaseBytes(sealed)).toBe(true);
  expect(sealed.byteLength).toBe(0);
  expect(other.byteLength).toBe(0);
  expect(sealed.buffer.detached).toBe(true);
  expect(releaseBytes(sealed)).toBe(false); // twice is harmless

  // A view of part of a larger buffer (a record inside a socket read, a chunk inside a
  // record) leaves the buffer alone: its other bytes may be someone else's.
  const read = new Uint8Array(200_000).fill(7);
  for (const part of [read.subarray(2, 61442), read.subarray(0, 100_000)]) {
    expect(releaseBytes(part)).toBe(false);
    expect(read.byteLength).toBe(200_000);
    expect(part[0]).toBe(7);
  }
  // Small buffers may be slices of a shared pool (Buffer.from of a short string): left alone.
  const small = Buffer.from("a short message");
  expect(releaseBytes(small)).toBe(false);
  expect(small.toString()).toBe("a short message");
  const own = new Uint8Array(16 * 1024 - 1);
  expect(releaseBytes(own)).toBe(false);
  expect(own.byteLength).toBe(16 * 1024 - 1);
});

test("bytesEqualAt(a, b, at) is bytesEqual(a, b.subarray(at, at + a.length)), short (in a loop) or long, and false past either end", () => {
  const b = Uint8Array.from({ length: 2000 }, (_, i) => (i * 29 + 7) & 0xff);
  for (const n of [0, 1, 32, 64, 65, 1320]) {
    for (const at of [0, 5, b.length - n]) {
      const a = b.slice(at, at + n);
      expect(bytesEqualAt(a, b, at)).toBe(true);
      if (n === 0) continue;
      for (const i of [0, n - 1]) {
        const c = a.slice();
        c[i]! ^= 0x80;
        expect(bytesEqualAt(c, b, at)).toBe(false);
      }
    }
    if (n > 0) {
      expect(bytesEqualAt(b.slice(b.length - n + 1), b, b.length - n + 2)).toBe(false); // one byte past the end
      expect(bytesEqualAt(b.slice(0, n), b, -1)).toBe(false);
    }
  }
});
