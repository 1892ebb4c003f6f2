// Relay nodes of a cluster for test/cluster/: real `smsg relay` processes on NATS, each with
// its own data dir holding the one relay key, started through the CLI as an operator would.

import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ok, startRelay, type RelayHandle } from "../support/harness.ts";
import { NATS_PASSWORD, NATS_USER } from "../support/nats.ts";

export interface NodeOptions {
  root: string; // scratch root: node data dirs and the password file go here
  name: string;
  nats: string[]; // URLs
  /** The data dir whose relay-key this node gets first (the cluster's first node). */
  keyFrom?: string;
  extra?: string[];
  heartbeatTimeout?: number;
  /** The NATS user it logs in as (the tests' relay user unless given). */
  natsUser?: string;
}

export function natsPasswordFile(root: string, password = NATS_PASSWORD): string {
  const f = join(root, `nats-password-${password.length}`);
  writeFileSync(f, password + "\n", { mode: 0o600 });
  return f;
}

/** The --nats* flags of a node or of ctrl. */
export function natsFlags(root: string, nats: string[], password?: string, user = NATS_USER): string[] {
  return ["--nats", nats.join(","), "--nats-user", user, "--nats-password-file", natsPasswordFile(root, password)];
}

export function nodeDir(root: string, name: string): string {
  return join(root, `node-${name}`);
}

/** Start a node; a new one gets the cluster's relay key copied in first, as README says. */
export async function startNode(o: NodeOptions): Promise<RelayHandle> {
  const dir = nodeDir(o.root, o.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (o.keyFrom && !existsSync(join(dir, "relay-key"))) copyFileSync(join(o.keyFrom, "relay-key"), join(dir, "relay-key"));
  return startRelay({
    dataDir: dir,
    heartbeatTimeout: o.heartbeatTimeout ?? 5,
    extra: [...natsFlags(o.root, o.nats, undefined, o.natsUser), "--node", o.name, ...(o.extra ?? [])],
  });
}

/** `smsg register-code` for a password file, then `ctrl users add` through a node's data dir. */
export async function registerVia(nodeData: string, user: string, pwFile: string): Promise<void> {
  const code = (await ok(["register-code", "--user", user, "--password-file", pwFile])).trim();
  await ok(["ctrl", "--data", nodeData, "users", "add", user, code]);
}
