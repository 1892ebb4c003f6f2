// One relay key for the cluster (SPEC.md §11.3): the first node to start stores its public
// key in the bucket; a node whose data dir holds another key refuses to start, naming both
// fingerprints, since clients pin one key and would refuse the odd node.

import type { KV } from "@nats-io/kv";
import { decodeRelayKey, encodeRelayKey } from "../../protocol/keys.ts";
import { fingerprint } from "../relay-core.ts";
import { ClusterError } from "./nats-connect.ts";
import { RELAY_KEY_KEY } from "./subjects.ts";

export async function checkClusterKey(kv: KV, publicKey: Uint8Array): Promise<void> {
  const mine = encodeRelayKey(publicKey);
  try {
    await kv.create(RELAY_KEY_KEY, new TextEncoder().encode(mine));
    return; // the first node: the cluster's key is ours
  } catch {
    // Already there (or made by another node just now): compare.
  }
  const entry = await kv.get(RELAY_KEY_KEY);
  const theirs = entry?.operation === "PUT" ? entry.string() : undefined;
  if (theirs === undefined) throw new ClusterError("the cluster's relay key could not be read from NATS; try again");
  if (theirs === mine) return;
  let other: string;
  try {
    other = fingerprint(decodeRelayKey(theirs));
  } catch {
    other = "?";
  }
  throw new ClusterError(
    `this node's relay key (fingerprint ${fingerprint(publicKey)}) is not the cluster's (fingerprint ${other}): copy the relay-key file of a running node into this node's data dir before its first start`,
  );
}
