// Relay nodes of a cluster for test/cluster/: real `smsg relay` processes on NATS, each with
// its own data dir holding the one relay key, started through the CLI as an operator would.

import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ok, startRelay, waitFor, type RelayHandle } from "../support/harness.ts";
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

/**
 * `smsg send` of a 100 MiB random attachment from the client in fromData to `to`, returning once
 * more than 1 MiB of it has reached the recipient's attachment folder: the transfer is in flight.
 */
export async function sendStreaming(fromData: string, toData: string, to: string, file: string, subject: string): Promise<{ id: string; data: Buffer }> {
  const data = randomBytes(100 * 1024 * 1024);
  writeFileSync(file, data);
  const out = await ok(["send", "--data", fromData, "--to", to, "--subject", subject, "--body", "x", "--attach", file]);
  const id = out.match(/[0-9a-f]{32}/)![0]!;
  const attDir = join(toData, "client.db-attachments");
  await waitFor("bytes to reach " + to, () => {
    try {
      return readdirSync(attDir).some((f) => statSync(join(attDir, f)).size > 1024 * 1024);
    } catch {
      return false;
    }
  }, 60_000, 20);
  return { id, data };
}
