// The connection of a relay node (or of ctrl) to the cluster's NATS servers (README "A
// cluster of relays", SPEC.md §11.1): the settings checked, the credentials read, and the
// first connection made within a deadline, with a failure told in one sentence. Once
// connected, the client reconnects by itself for as long as the process runs.

import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NODE_NAME } from "./subjects.ts";
import type { Settings } from "../config.ts";

export interface ClusterSettings {
  servers: string[];
  /** This node's name; ctrl has none. */
  node?: string;
  user?: string;
  passwordFile?: string;
  creds?: string;
  tlsCa?: string;
  /** JetStream copies of the directory; 0 chooses from the servers seen. */
  replicas: number;
}

/** A cluster setting that cannot work, or NATS that cannot be used: one sentence. */
export class ClusterError extends Error {}

/** The first connection, JetStream's answer included, must be made within this. */
export const CONNECT_DEADLINE_MS = 8000;

type ClusterKey = "nats" | "node" | "nats_user" | "nats_password_file" | "nats_creds" | "nats_tls_ca" | "directory_replicas";

/** The cluster part of the relay's settings (config.ts keys), or undefined when there is none. */
export function clusterSettingsOf(s: Partial<Pick<Settings, ClusterKey>>, needNode: boolean): ClusterSettings | undefined {
  const others = s.node ?? s.nats_user ?? s.nats_password_file ?? s.nats_creds ?? s.nats_tls_ca;
  if (!s.nats) {
    if (others !== undefined && (needNode || s.node === undefined)) throw new ClusterError("the --node and --nats-* settings need --nats URL[,URL...]");
    return undefined;
  }
  const servers = s.nats.flatMap((x) => x.split(",")).map((x) => x.trim()).filter((x) => x !== "");
  if (servers.length === 0) throw new ClusterError("--nats needs at least one URL");
  for (const u of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(u) && !/^[^\s/:]+:\d+$/.test(u)) throw new ClusterError(`--nats: "${u}" is not a NATS URL like nats://HOST:4222`);
  }
  if (needNode) {
    if (s.node === undefined) throw new ClusterError("a cluster node needs a name: --node NAME (unique in the cluster)");
    if (!NODE_NAME.test(s.node)) throw new ClusterError(`--node must be 1-32 of a-z 0-9 _ -, not "${s.node}"`);
  }
  if ((s.nats_user === undefined) !== (s.nats_password_file === undefined)) throw new ClusterError("--nats-user and --nats-password-file go together");
  if (s.nats_creds !== undefined && s.nats_user !== undefined) throw new ClusterError("give either --nats-creds or --nats-user with --nats-password-file, not both");
  return {
    servers,
    node: s.node,
    user: s.nats_user,
    passwordFile: s.nats_password_file,
    creds: s.nats_creds,
    tlsCa: s.nats_tls_ca,
    replicas: s.directory_replicas ?? 0,
  };
}

function readSecret(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ClusterError(`cannot read the ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Connect to NATS and check that JetStream answers, or throw a ClusterError saying why,
 * within CONNECT_DEADLINE_MS. The connection then reconnects forever: a node that loses
 * NATS for a while carries on when it is back (SPEC.md §11.4).
 */
export async function connectNats(cs: ClusterSettings, name: string): Promise<NatsConnection> {
  const password = cs.passwordFile ? readSecret(cs.passwordFile, "NATS password file").replace(/\r?\n$/, "") : undefined;
  const creds = cs.creds ? readSecret(cs.creds, "NATS credentials file") : undefined;
  if (cs.tlsCa) readSecret(cs.tlsCa, "NATS CA file"); // a missing file is told here, not as a TLS failure
  const where = cs.servers.join(",");
  let nc: NatsConnection | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClusterError(`cannot reach NATS at ${where} within ${CONNECT_DEADLINE_MS / 1000} s`)), CONNECT_DEADLINE_MS);
  });
  try {
    nc = await Promise.race([
      connect({
        servers: cs.servers,
        name,
        user: cs.user,
        pass: password,
        authenticator: creds ? credsAuthenticator(new TextEncoder().encode(creds)) : undefined,
        tls: cs.tlsCa ? { caFile: cs.tlsCa } : undefined,
        timeout: 3000,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 100,
        pingInterval: 2000,
        maxPingOut: 2,
      }),
      deadline,
    ]);
    const jsm = await Promise.race([jetstreamManager(nc, { timeout: 3000 }), deadline]);
    await Promise.race([jsm.getAccountInfo(), deadline]);
    return nc;
  } catch (e) {
    void nc?.close();
    throw explain(e, where, cs);
  } finally {
    clearTimeout(timer);
  }
}

function explain(e: unknown, where: string, cs: ClusterSettings): ClusterError {
  if (e instanceof ClusterError) return e;
  const err = e as Error;
  const text = `${err.name ?? ""} ${err.message ?? String(e)}`;
  if (/Authoriz|authenticat|credentials|nkey|jwt/i.test(text)) {
    const who = cs.user ? `user ${cs.user}` : cs.creds ? `the credentials in ${cs.creds}` : "no credentials";
    return new ClusterError(`NATS at ${where} refused ${who} (wrong name, password or credentials)`);
  }
  if (/jetstream|503|no responders/i.test(text)) return new ClusterError(`NATS at ${where} has no JetStream for this user: start nats-server with JetStream enabled`);
  if (/tls|certificate|self.signed|SSL/i.test(text)) return new ClusterError(`TLS to NATS at ${where} failed: ${err.message}`);
  return new ClusterError(`cannot reach NATS at ${where} (${err.message})`);
}
