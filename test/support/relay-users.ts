// Users for a relay started in the test's own process: each gets a fresh login key and
// identity seed, and is added to the relay's SQLite directory before the relay opens it, so
// RawClient can log in as them with real keys.

import { randomBytes } from "node:crypto";
import { Directory } from "../../src/server/directory.ts";
import { ed25519PublicKey, x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";

export interface RelayUser {
  login: KeyPair;
  seed: Uint8Array;
  pub: Uint8Array;
}

export function addRelayUsers(dataDir: string, names: readonly string[]): Map<string, RelayUser> {
  const users = new Map<string, RelayUser>();
  const d = Directory.open(dataDir);
  for (const u of names) {
    const login = x25519Generate();
    const seed = new Uint8Array(randomBytes(32));
    users.set(u, { login, seed, pub: ed25519PublicKey(seed) });
    d.add(u, login.publicKey, Date.now());
  }
  d.close();
  return users;
}
