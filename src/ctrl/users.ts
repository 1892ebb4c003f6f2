// Operator commands over the relay's data dir (README "Registering users"): they open the
// same SQLite file as a running relay, which sees each change at the next login; on a
// cluster node's data dir (or with --nats), the cluster's directory on NATS (SPEC.md §11.3).

import { ApprovalError, Directory, readRegistrationCode } from "../server/directory.ts";
import { encodeRegistrationCode, encodeRelayKey } from "../protocol/keys.ts";
import { checkUserId } from "../protocol/user-id.ts";
import { loadOrCreateRelayKey, relayKeyExists } from "../server/relay-key.ts";
import { CliError } from "../cli/cli-error.ts";
import { ClusterError, connectNats, type ClusterSettings } from "../server/cluster/nats-connect.ts";
import { DirectoryReplica } from "../server/cluster/directory-replica.ts";

export type Out = (line: string) => void;

function user(u: string): string {
  try {
    return checkUserId(u);
  } catch {
    throw new CliError(`"${u}" is not a valid user id (1-32 of a-z 0-9 . _ - starting with a letter or digit)`);
  }
}

/** An ApprovalError is the operator's to read: one sentence, exit 1. */
function told<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ApprovalError) throw new CliError(e.message);
    throw e;
  }
}

function code(c: string): Uint8Array {
  return told(() => readRegistrationCode(c));
}

/** The cluster ctrl acts on, when there is one: set once from the flags or the data dir. */
let cluster: ClusterSettings | undefined;
export function useCluster(c: ClusterSettings | undefined): void {
  cluster = c;
}

/**
 * Open the relay's directory for one operation, and close it whatever happens. In a
 * cluster, the operation runs on a fresh copy of the cluster's directory, and returns once
 * every change it made is stored in NATS.
 */
export async function withDir<T>(dataDir: string, f: (d: Directory) => T): Promise<T> {
  if (!cluster) {
    const d = Directory.open(dataDir);
    try {
      return f(d);
    } finally {
      d.close();
    }
  }
  try {
    const nc = await connectNats(cluster, "smsg-ctrl");
    try {
      const r = await DirectoryReplica.open(nc, cluster.replicas);
      try {
        const out = f(r.directory);
        await r.flush();
        return out;
      } finally {
        r.close();
      }
    } finally {
      await nc.close();
    }
  } catch (e) {
    if (e instanceof ClusterError) throw new CliError(e.message);
    throw e;
  }
}

export async function usersAdd(dataDir: string, name: string, regCode: string | undefined, out: Out, now = Date.now()): Promise<void> {
  const u = user(name);
  const key = regCode === undefined ? null : code(regCode);
  await withDir(dataDir, (d) => {
    if (!d.add(u, key, now)) throw new CliError(`user ${u} already exists`);
  });
  out(
    key
      ? `added ${u}; they can log in now`
      : `added ${u} without a code; their first login will be kept as pending: approve it with \`smsg ctrl --data ${dataDir} users approve ${u}\``,
  );
}

export async function usersList(dataDir: string, json: boolean, out: Out): Promise<void> {
  const rows = await withDir(dataDir, (d) => d.list());
  const items = rows.map((r) => ({
    user: r.user,
    state: r.state,
    code: r.code ? encodeRegistrationCode(r.code) : null,
    created: new Date(r.created).toISOString(),
  }));
  if (json) return out(JSON.stringify(items));
  if (items.length === 0) return out("no users");
  for (const i of items) out(`${i.user}\t${i.state}\t${i.code ?? "(no code yet)"}`);
}

export async function usersPending(dataDir: string, json: boolean, out: Out): Promise<void> {
  const rows = await withDir(dataDir, (d) => d.pending());
  const items = rows.map((p) => ({
    user: p.user,
    code: encodeRegistrationCode(p.code),
    address: p.address,
    time: new Date(p.time).toISOString(),
  }));
  if (json) return out(JSON.stringify(items));
  if (items.length === 0) return out("no pending logins");
  for (const i of items) out(`${i.user}\t${i.code}\t${i.address}\t${i.time}`);
}

/**
 * Adopt a pending login's key by the directory's approval rule (Directory.approvePending);
 * without a code to compare, the operator is asked to compare the one shown.
 */
export async function usersApprove(dataDir: string, name: string, expected: string | undefined, out: Out): Promise<void> {
  const u = user(name);
  const want = expected === undefined ? undefined : code(expected);
  const p = await withDir(dataDir, (d) => told(() => d.approvePending(u, want)));
  out(`approved ${u} with code ${encodeRegistrationCode(p.code)} (from ${p.address})${want ? "" : "; compare it with the code they send you"}`);
}

export async function usersRemove(dataDir: string, name: string, out: Out): Promise<void> {
  const u = user(name);
  if (!(await withDir(dataDir, (d) => d.remove(u)))) throw new CliError(`no user ${u}`);
  out(`removed ${u}`);
}

export async function usersDisable(dataDir: string, name: string, out: Out): Promise<void> {
  const u = user(name);
  if (!(await withDir(dataDir, (d) => d.setState(u, "disabled")))) throw new CliError(`no user ${u}`);
  out(`disabled ${u}; they cannot log in until \`users enable ${u}\``);
}

export async function usersEnable(dataDir: string, name: string, out: Out): Promise<void> {
  const u = user(name);
  if (!(await withDir(dataDir, (d) => d.setState(u, "active")))) throw new CliError(`no user ${u}`);
  out(`enabled ${u}`);
}

export function relayKey(dataDir: string, out: Out): void {
  if (!relayKeyExists(dataDir)) throw new CliError(`${dataDir} has no relay key yet: start the relay once`);
  out(encodeRelayKey(loadOrCreateRelayKey(dataDir).publicKey));
}
