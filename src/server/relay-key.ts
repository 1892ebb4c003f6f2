// The relay's long-term Noise static key (SPEC.md §3.2): made on first start, kept in the
// data dir readable by its owner only. Losing it makes every client refuse the relay.

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { x25519Generate, x25519PublicKey } from "../protocol/primitives.ts";

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export const RELAY_KEY_FILE = "relay-key";

export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function relayKeyExists(dataDir: string): boolean {
  return existsSync(join(dataDir, RELAY_KEY_FILE));
}

/** Load the relay key, creating it when absent. The file holds the 32-byte secret in hex. */
export function loadOrCreateRelayKey(dataDir: string): KeyPair {
  ensureDataDir(dataDir);
  const path = join(dataDir, RELAY_KEY_FILE);
  if (!existsSync(path)) {
    const kp = x25519Generate();
    // wx: never overwrite a key another process made in the meantime.
    writeFileSync(path, Buffer.from(kp.secretKey).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  }
  chmodSync(path, 0o600);
  const hex = readFileSync(path, "utf8").trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${path} is not a relay key (64 hex digits)`);
  const secretKey = new Uint8Array(Buffer.from(hex, "hex"));
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}
