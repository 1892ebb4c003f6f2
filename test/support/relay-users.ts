// Users for a relay started in the test's own process: each gets a fresh login key and
// identity seed, and is added to the relay's SQLite directory before the relay opens it, so
// RawClient can log in as them with real keys.

import { expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { Directory } from "../../src/server/directory.ts";
import type { Relay } from "../../src/server/relay.ts";
import { ed25519PublicKey, x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";
import { RawClient } from "./raw-client.ts";
import { waitFor } from "./harness.ts";

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

/** user logged in to the relay's first address with its login key. */
export async function loginRelayUser(relay: Relay, users: Map<string, RelayUser>, user: string): Promise<RawClient> {
  const { client, status } = await RawClient.login("127.0.0.1", relay.addresses[0]!.port, user, users.get(user)!.login);
  expect(status).toBe("ok");
  return client;
}

/** Publish a session key for user on client, and wait until the relay routes to it. */
export async function publishRoutable(relay: Relay, users: Map<string, RelayUser>, user: string, client: RawClient): Promise<ReturnType<RawClient["publish"]>> {
  const u = users.get(user)!;
  const key = client.publish(user, u.seed, u.pub);
  await waitFor(`${user} to be routable`, () => {
    const k = relay.core.hub.find(user)?.sessionKey;
    return (k && Buffer.from(k.sessionPub).equals(key.key.sessionPub)) || undefined;
  });
  return key;
}

/** Both: a logged-in client whose session key the relay routes to. */
export async function loginPublished(relay: Relay, users: Map<string, RelayUser>, user: string): Promise<{ c: RawClient; key: ReturnType<RawClient["publish"]> }> {
  const c = await loginRelayUser(relay, users, user);
  return { c, key: await publishRoutable(relay, users, user, c) };
}
