// Operator commands over the relay's data dir (README "Registering users"): they open the
// same SQLite file as a running relay, which sees each change at the next login.

import { Directory, type PendingRow } from "../server/directory.ts";
import { decodeRegistrationCode, encodeRegistrationCode, encodeRelayKey } from "../protocol/keys.ts";
import { checkUserId } from "../protocol/user-id.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { loadOrCreateRelayKey, relayKeyExists } from "../server/relay-key.ts";
import { CliError } from "../client/password.ts";

export type Out = (line: string) => void;

function user(u: string): string {
  try {
    return checkUserId(u);
  } catch {
    throw new CliError(`"${u}" is not a valid user id (1-32 of a-z 0-9 . _ - starting with a letter or digit)`);
  }
}

function code(c: string): Uint8Array {
  try {
    return decodeRegistrationCode(c);
  } catch (e) {
    if (e instanceof ProtocolError) throw new CliError(`"${c}" is not a registration code (checksum or format wrong)`);
    throw e;
  }
}

/** Open the relay's directory for one operation, and close it whatever happens. */
export function withDir<T>(dataDir: string, f: (d: Directory) => T): T {
  const d = Directory.open(dataDir);
  try {
    return f(d);
  } finally {
    d.close();
  }
}

export function usersAdd(dataDir: string, name: string, regCode: string | undefined, out: Out, now = Date.now()): void {
  const u = user(name);
  const key = regCode === undefined ? null : code(regCode);
  withDir(dataDir, (d) => {
    if (!d.add(u, key, now)) throw new CliError(`user ${u} already exists`);
  });
  out(
    key
      ? `added ${u}; they can log in now`
      : `added ${u} without a code; their first login will be kept as pending: approve it with \`smsg ctrl --data ${dataDir} users approve ${u}\``,
  );
}

export function usersList(dataDir: string, json: boolean, out: Out): void {
  const rows = withDir(dataDir, (d) => d.list());
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

export function usersPending(dataDir: string, json: boolean, out: Out): void {
  const rows = withDir(dataDir, (d) => d.pending());
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
 * Adopt a pending login's key. Anyone who knows a user id can make a pending row for it,
 * so replacing an existing code needs that code, which the operator got from the user over
 * a channel they trust; a first registration should be compared the same way.
 */
export function usersApprove(dataDir: string, name: string, expected: string | undefined, out: Out): void {
  const u = user(name);
  const want = expected === undefined ? undefined : code(expected);
  const p = withDir(dataDir, (d) => approvePending(d, u, want));
  out(`approved ${u} with code ${encodeRegistrationCode(p.code)} (from ${p.address})${want ? "" : "; compare it with the code they send you"}`);
}

/**
 * The approval rule, shared by `users approve` and the relay's admin page: the pending code
 * must equal `want` when given, and `want` is required to replace an existing code.
 */
export function approvePending(d: Directory, name: string, want: Uint8Array | undefined): PendingRow {
  // One write transaction from the check to the adoption: a pending row planted by a
  // login in between must not be adopted in place of the one that was checked.
  return d.db.transaction(() => checkAndApprove(d, name, want)).immediate();
}

function checkAndApprove(d: Directory, name: string, want: Uint8Array | undefined): PendingRow {
  const u = user(name);
  const row = d.get(u);
  if (!row) throw new CliError(`no user ${u}: add them first with \`users add ${u}\``);
  const pending = d.pending().find((x) => x.user === u);
  if (!pending) throw new CliError(`no pending login for ${u}: ask them to start their client once`);
  if (want && Buffer.compare(Buffer.from(want), Buffer.from(pending.code)) !== 0) {
    throw new CliError(`the pending code for ${u} is ${encodeRegistrationCode(pending.code)}, not the one given: not approved`);
  }
  if (row.code && !want) {
    throw new CliError(
      `${u} already has a code; to replace it, give the new code they sent you: \`users approve ${u} CODE\` (pending: ${encodeRegistrationCode(pending.code)} from ${pending.address})`,
    );
  }
  const p = d.approve(u);
  if (!p) throw new CliError(`no pending login for ${u}`);
  return p;
}

/** A registration code typed by a person, or a CliError saying what is wrong with it. */
export function parseCode(c: string): Uint8Array {
  return code(c);
}

export function usersRemove(dataDir: string, name: string, out: Out): void {
  const u = user(name);
  if (!withDir(dataDir, (d) => d.remove(u))) throw new CliError(`no user ${u}`);
  out(`removed ${u}`);
}

export function usersDisable(dataDir: string, name: string, out: Out): void {
  const u = user(name);
  if (!withDir(dataDir, (d) => d.setState(u, "disabled"))) throw new CliError(`no user ${u}`);
  out(`disabled ${u}; they cannot log in until \`users enable ${u}\``);
}

export function usersEnable(dataDir: string, name: string, out: Out): void {
  const u = user(name);
  if (!withDir(dataDir, (d) => d.setState(u, "active"))) throw new CliError(`no user ${u}`);
  out(`enabled ${u}`);
}

export function relayKey(dataDir: string, out: Out): void {
  if (!relayKeyExists(dataDir)) throw new CliError(`${dataDir} has no relay key yet: start the relay once`);
  out(encodeRelayKey(loadOrCreateRelayKey(dataDir).publicKey));
}
