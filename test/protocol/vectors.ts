// Loads the published test vectors (test/vectors/, see its README.md for each source) and the helpers
// shared by the protocol tests. SMSG_VECTORS overrides the directory.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "bun:test";
import { ProtocolError } from "../../src/protocol/errors.ts";
import type { ProtocolErrorCode } from "../../src/protocol/errors.ts";

const DIR = process.env.SMSG_VECTORS ?? join(import.meta.dir, "../vectors");

export function loadVectors<T>(file: string): T {
  return JSON.parse(readFileSync(join(DIR, file), "utf8")) as T;
}

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/** Asserts that fn throws a ProtocolError with exactly this code. */
export function expectCode(fn: () => unknown, code: ProtocolErrorCode): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect((thrown as ProtocolError).code).toBe(code);
}

export async function expectCodeAsync(fn: () => Promise<unknown>, code: ProtocolErrorCode): Promise<void> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect((thrown as ProtocolError).code).toBe(code);
}

/** A deterministic byte source for pinning randomness in tests. */
export function counterRand(seed = 1): (n: number) => Uint8Array {
  let counter = seed;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (counter * 31 + i * 7) & 0xff;
    counter += 1;
    return out;
  };
}

/**
 * Bytes cut at the given offsets (each within 0..length; sorted and deduplicated here), as a
 * stream may deliver them: the pieces, empty ones included, join back to the bytes.
 */
export function cutAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const at = [...new Set(offsets)].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}
