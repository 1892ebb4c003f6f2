// Load-generator users: random X25519 login keys instead of password-derived ones (one
// Argon2id each would make the generator the bottleneck), written into the relay's
// directory directly, in one transaction, as `ctrl users add` would one by one.

import { Directory } from "../../src/server/directory.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";
import { ed25519PublicKey, randomBytes } from "../../src/protocol/primitives.ts";

/** What a generator process needs to log in as this user: all hex, so it crosses IPC. */
export interface BenchUser {
  user: string;
  secret: string;
  pub: string;
}

export function makeUsers(prefix: string, n: number): BenchUser[] {
  const out: BenchUser[] = [];
  for (let i = 0; i < n; i++) {
    const k = x25519Generate();
    out.push({ user: `${prefix}${i}`, secret: Buffer.from(k.secretKey).toString("hex"), pub: Buffer.from(k.publicKey).toString("hex") });
  }
  return out;
}

export function registerUsers(relayDataDir: string, users: BenchUser[]): void {
  const dir = Directory.open(relayDataDir);
  try {
    const now = Date.now();
    dir.addAll(users.map((u) => ({ user: u.user, code: new Uint8Array(Buffer.from(u.pub, "hex")) })), now);
  } finally {
    dir.close();
  }
}

export function loginKey(u: BenchUser): { secretKey: Uint8Array; publicKey: Uint8Array } {
  return { secretKey: new Uint8Array(Buffer.from(u.secret, "hex")), publicKey: new Uint8Array(Buffer.from(u.pub, "hex")) };
}

/** One identity for all generator users: the relay only checks each signature, not who. */
export function benchIdentity(): { seed: string; pub: string } {
  const seed = randomBytes(32);
  return { seed: Buffer.from(seed).toString("hex"), pub: Buffer.from(ed25519PublicKey(seed)).toString("hex") };
}
