// Every relay setting in one table (README "Config file"): its TOML key, its command-line
// flag, its type, range and default. The config file and the flags are checked against the
// same table, and a flag given on the command line overrides the file.

import { readFileSync } from "node:fs";
import { parse, TomlError } from "smol-toml";

export type SettingKind = "int" | "number" | "string" | "strings" | "bool";

export interface Setting {
  key: string; // TOML key; the flag is --key with "_" as "-"
  kind: SettingKind;
  help: string;
  min?: number;
  max?: number;
  default?: number | string | boolean | string[];
}

export const SETTINGS = [
  { key: "data", kind: "string", help: "the relay's data dir (key, user database); with --service /var/lib/smsg" },
  { key: "listen", kind: "strings", help: "HOST:PORT or [IPv6]:PORT to listen on (repeatable)", default: ["[::]:7443"] },
  { key: "admin", kind: "string", help: "serve the admin page on this loopback ADDR:PORT" },
  { key: "log_dir", kind: "string", help: "folder of the daily log files (default: DATA/logs, or the system's with --service)" },
  { key: "log_days", kind: "int", help: "days of log files to keep, today included; 0 keeps all", min: 0, max: 36500, default: 30 },
  { key: "heartbeat_timeout", kind: "int", help: "close connections silent this many seconds", min: 1, max: 86400, default: 90 },
  { key: "handshake_timeout", kind: "int", help: "seconds a new connection has to log in", min: 1, max: 600, default: 10 },
  { key: "max_message_mb", kind: "number", help: "largest message with its attachments, in MiB (told to clients)", min: 0.001, max: 8_000_000, default: 2048 },
  { key: "max_connections", kind: "int", help: "connections in total", min: 1, max: 1_000_000, default: 10_000 },
  { key: "max_connections_per_address", kind: "int", help: "connections per IPv4 address or IPv6 /64", min: 1, max: 1_000_000, default: 50 },
  { key: "failed_logins_burst", kind: "int", help: "failed logins allowed at once per address", min: 1, max: 1_000_000, default: 10 },
  { key: "failed_logins_per_minute", kind: "number", help: "failed logins refilled per minute per address", min: 0.001, max: 1_000_000, default: 10 },
  { key: "failed_logins_per_user_burst", kind: "int", help: "failed logins allowed at once per user id (from addresses it has not logged in from)", min: 1, max: 1_000_000, default: 30 },
  { key: "failed_logins_per_user_per_hour", kind: "number", help: "failed logins refilled per hour per user id", min: 0.001, max: 1_000_000, default: 30 },
  { key: "failed_changes_burst", kind: "int", help: "refused password changes (CHANGE_CODE) allowed at once per user id", min: 1, max: 1_000_000, default: 10 },
  { key: "failed_changes_per_hour", kind: "number", help: "refused password changes refilled per hour per user id", min: 0.001, max: 1_000_000, default: 10 },
  { key: "messages_per_minute", kind: "number", help: "messages one user may send per minute (burst the same)", min: 0.001, max: 1_000_000, default: 120 },
  { key: "max_pending", kind: "int", help: "pending registrations kept (oldest dropped)", min: 1, max: 1_000_000, default: 1000 },
  { key: "shutdown_grace", kind: "int", help: "seconds transfers in flight may take to finish after SIGTERM", min: 0, max: 3600, default: 30 },
  // New handshakes per IPv4 address or IPv6 /64, refused at accept before any crypto
  // (SPEC.md §3.3): far above what the 50 connections one address may hold ever need.
  { key: "handshakes_per_second", kind: "number", help: "new connections (handshakes) refilled per second per address", min: 0.001, max: 1_000_000, default: 20 },
  { key: "handshakes_burst", kind: "int", help: "new connections (handshakes) allowed at once per address", min: 1, max: 1_000_000, default: 200 },
  // Unread output (SPEC.md §6.5): over its share a session is no longer read from until it drains.
  { key: "max_output_per_session_kb", kind: "int", help: "unread output one session may have at the relay before it is no longer read from, in KiB", min: 128, max: 1_048_576, default: 1024 },
  { key: "max_output_per_user_kb", kind: "int", help: "unread output of all sessions of one user together, in KiB", min: 128, max: 16_777_216, default: 4096 },
  { key: "max_output_total_mb", kind: "int", help: "unread output of all sessions together, in MiB", min: 1, max: 1_048_576, default: 256 },
  // Window credit (SPEC.md §6.3, §6.5): how far a transfer's window may grow beyond 16 chunks.
  { key: "max_window_per_transfer_mb", kind: "int", help: "window credit one transfer may have beyond its base window of 16 chunks, in MiB", min: 0, max: 4096, default: 16 },
  { key: "max_window_total_mb", kind: "int", help: "window credit of all transfers together beyond their base windows, in MiB", min: 0, max: 1_048_576, default: 256 },
  // Mail that waits at the relay for offline users (SPEC.md §12); "off" is the relay without it.
  { key: "offline_mail", kind: "string", help: "on or off: keep sealed mail for offline users until they connect (in a cluster: in its replicated bucket)", default: "on" },
  { key: "mailbox_quota_mb", kind: "number", help: "mail that may wait for one user, in MiB", min: 0.001, max: 8_000_000, default: 1024 },
  { key: "mailbox_retention_days", kind: "number", help: "days mail may wait before it is deleted and its sender told", min: 0.00001, max: 36500, default: 30 },
  // A cluster of relay nodes on NATS (README "A cluster of relays", SPEC.md §11): none of
  // these given, the relay is on its own, as always.
  { key: "nats", kind: "strings", help: "run as a node of a relay cluster on these NATS servers: URL[,URL...] (nats:// or tls://)" },
  { key: "node", kind: "string", help: "this node's name in the cluster, unique: 1-32 of a-z 0-9 _ -" },
  { key: "nats_user", kind: "string", help: "NATS user name (with --nats-password-file)" },
  { key: "nats_password_file", kind: "string", help: "file holding the NATS user's password" },
  { key: "nats_creds", kind: "string", help: "NATS credentials file (JWT and NKey seed), instead of a user and password" },
  { key: "nats_tls_ca", kind: "string", help: "CA certificate (PEM) that signed the NATS servers' certificates: TLS to NATS" },
  { key: "directory_replicas", kind: "int", help: "copies JetStream keeps of the cluster's directory; 0 = 1 on a single NATS server, 3 on three or more", min: 0, max: 5, default: 0 },
] as const satisfies readonly Setting[];

export type SettingKey = (typeof SETTINGS)[number]["key"];
export type Settings = {
  data?: string;
  listen: string[];
  admin?: string;
  log_dir?: string;
  log_days: number;
  heartbeat_timeout: number;
  handshake_timeout: number;
  max_message_mb: number;
  max_connections: number;
  max_connections_per_address: number;
  failed_logins_burst: number;
  failed_logins_per_minute: number;
  failed_logins_per_user_burst: number;
  failed_logins_per_user_per_hour: number;
  failed_changes_burst: number;
  failed_changes_per_hour: number;
  messages_per_minute: number;
  max_pending: number;
  shutdown_grace: number;
  handshakes_per_second: number;
  handshakes_burst: number;
  max_output_per_session_kb: number;
  max_output_per_user_kb: number;
  max_output_total_mb: number;
  max_window_per_transfer_mb: number;
  max_window_total_mb: number;
  offline_mail: string;
  mailbox_quota_mb: number;
  mailbox_retention_days: number;
  nats?: string[];
  node?: string;
  nats_user?: string;
  nats_password_file?: string;
  nats_creds?: string;
  nats_tls_ca?: string;
  directory_replicas: number;
};

export class ConfigError extends Error {}

export const flagOf = (key: string): string => `--${key.replaceAll("_", "-")}`;
/** commander's camelCase attribute name of a flag. */
export const attrOf = (key: string): string => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Check one value against its setting; `where` names the file key or the flag. */
export function checkValue(s: Setting, raw: unknown, where: string): number | string | string[] | boolean {
  switch (s.kind) {
    case "int":
    case "number": {
      const n = typeof raw === "string" ? Number(raw) : typeof raw === "bigint" ? Number(raw) : raw;
      if (typeof n !== "number" || !Number.isFinite(n) || (s.kind === "int" && !Number.isInteger(n))) {
        throw new ConfigError(`${where} must be ${s.kind === "int" ? "a whole number" : "a number"}, not ${JSON.stringify(String(raw))}`);
      }
      if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) {
        throw new ConfigError(`${where} must be between ${s.min} and ${s.max}, not ${n}`);
      }
      return n;
    }
    case "string":
      if (typeof raw !== "string" || raw === "") throw new ConfigError(`${where} must be a non-empty string`);
      return raw;
    case "strings": {
      const list = typeof raw === "string" ? [raw] : raw;
      if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === "string" && x !== "")) {
        throw new ConfigError(`${where} must be a string or a non-empty list of strings`);
      }
      return list as string[];
    }
    case "bool":
      if (typeof raw !== "boolean") throw new ConfigError(`${where} must be true or false`);
      return raw;
  }
}

/** Parse a TOML config file; unknown keys and wrong types are errors naming the key. */
export function readConfigFile(path: string): Partial<Record<SettingKey, unknown>> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read the config file ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : "";
    throw new ConfigError(`${path} is not valid TOML${where}: ${(e as Error).message.split("\n")[0]}`);
  }
  const out: Partial<Record<SettingKey, unknown>> = {};
  for (const [k, v] of Object.entries(doc)) {
    const s = (SETTINGS as readonly Setting[]).find((x) => x.key === k);
    if (!s) throw new ConfigError(`${path}: unknown setting "${k}" (see README "Config file")`);
    out[k as SettingKey] = checkValue(s, v, `${path}: ${k}`);
  }
  return out;
}

/**
 * Defaults, then the file, then the flags: `flags` holds only the flags given on the
 * command line (commander attribute names), already parsed as strings or string lists.
 */
export function resolveSettings(file: Partial<Record<SettingKey, unknown>>, flags: Record<string, unknown>): Settings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS as readonly Setting[]) {
    const flag = flags[attrOf(s.key)];
    if (flag !== undefined && !(Array.isArray(flag) && flag.length === 0)) out[s.key] = checkValue(s, flag, flagOf(s.key));
    else if (file[s.key as SettingKey] !== undefined) out[s.key] = file[s.key as SettingKey];
    else if (s.default !== undefined) out[s.key] = s.default;
  }
  return out as Settings;
}
