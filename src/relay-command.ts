// `smsg relay` (README "Running a relay"): settings from the TOML file and the flags, the
// daily log, the relay itself, the admin page and the terminal's live status; SIGTERM
// stops it gracefully. Wires the real clock, files and sockets, as main.ts does.

import type { Command } from "commander";
import { existsSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startRelay } from "./server/relay.ts";
import { ensureDataDir } from "./server/relay-key.ts";
import { DailyLog } from "./server/daily-log.ts";
import { ConfigError, SETTINGS, flagOf, readConfigFile, resolveSettings, type Setting } from "./server/config.ts";
import { TerminalStatus } from "./server/terminal-status.ts";
import { startAdmin, type RunningAdmin } from "./server/admin.ts";
import { HostPortError, formatHostPort, parseHostPort, type HostPort } from "./net/host-port.ts";
import { CliError } from "./cli/cli-error.ts";
import { ClusterError, clusterSettingsOf, type ClusterSettings } from "./server/cluster/nats-connect.ts";

export const DEFAULT_SERVICE_CONFIG = "/etc/smsg/relay.toml";
export const ADMIN_URL_FILE = "admin-url";
/** A cluster node's NATS settings (no secrets: file names), so that `ctrl --data` finds the cluster. */
export const CLUSTER_FILE = "cluster.json";

/** Where a service's daily logs go (README "Where the logs are"). */
export function systemLogDir(platform: NodeJS.Platform = process.platform): string {
  if (platform === "darwin") return "/Library/Logs/smsg";
  if (platform === "win32") return join(process.env.ProgramData ?? "C:\\ProgramData", "smsg", "logs");
  return "/var/log/smsg";
}

export function systemDataDir(platform: NodeJS.Platform = process.platform): string {
  if (platform === "darwin") return "/Library/Application Support/smsg";
  if (platform === "win32") return join(process.env.ProgramData ?? "C:\\ProgramData", "smsg");
  return "/var/lib/smsg";
}

const LOGIN_LINK_MS = 24 * 3600_000;

function hostPort(s: string, what: string): HostPort {
  try {
    return parseHostPort(s, what);
  } catch (e) {
    if (e instanceof HostPortError) throw new CliError(e.message);
    throw e;
  }
}

/**
 * The relay's clock. SMSG_TEST_START_TIME (an ISO time) starts it there and lets it run at
 * real speed: how the tests cross midnight or an invite's expiry without waiting.
 */
function relayClock(): () => number {
  const start = process.env.SMSG_TEST_START_TIME;
  if (!start) return Date.now;
  const t = Date.parse(start);
  if (!Number.isFinite(t)) throw new CliError(`SMSG_TEST_START_TIME is not a time: ${start}`);
  const offset = t - Date.now();
  return () => Date.now() + offset;
}

export function addRelayCommand(program: Command, out: (line: string) => void): void {
  const cmd = program
    .command("relay")
    .description("run the relay that passes encrypted messages between clients")
    .option("--config <file>", `TOML file with any of the settings below (keys as the flags, with _); flags override it. With --service: ${DEFAULT_SERVICE_CONFIG} if present`)
    .option("--service", "run as a system service: logs in the system log folder, no live status");
  for (const s of SETTINGS as readonly Setting[]) {
    const dflt = s.default === undefined ? "" : ` (default ${Array.isArray(s.default) ? s.default.join(" ") : String(s.default)})`;
    const arg = s.kind === "int" || s.kind === "number" ? "<n>" : s.key === "data" || s.key === "log_dir" ? "<dir>" : s.key === "listen" || s.key === "admin" ? "<addr:port>" : "<value>";
    if (s.kind === "strings") cmd.option(`${flagOf(s.key)} ${arg}`, `${s.help}${dflt}`, (v: string, acc: string[] = []) => [...acc, v]);
    else cmd.option(`${flagOf(s.key)} ${arg}`, `${s.help}${dflt}`);
  }
  cmd.action((o: Record<string, unknown>) => runRelay(o, out));
}

async function runRelay(o: Record<string, unknown>, out: (line: string) => void): Promise<void> {
  const service = o.service === true;
  const configPath = (o.config as string | undefined) ?? (service && existsSync(DEFAULT_SERVICE_CONFIG) ? DEFAULT_SERVICE_CONFIG : undefined);
  let settings;
  try {
    settings = resolveSettings(configPath ? readConfigFile(configPath) : {}, o);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message);
    throw e;
  }
  let cluster: ClusterSettings | undefined;
  try {
    cluster = clusterSettingsOf(settings, true);
  } catch (e) {
    if (e instanceof ClusterError) throw new CliError(e.message);
    throw e;
  }
  const offlineMail = settings.offline_mail;
  if (offlineMail !== "on" && offlineMail !== "off") throw new CliError(`offline_mail must be on or off, not ${JSON.stringify(offlineMail)}`);
  const dataDir = settings.data ?? (service ? systemDataDir() : undefined);
  if (!dataDir) throw new CliError('give the relay a data dir: --data DIR, or data = "DIR" in the config file');
  const listen = settings.listen.map((l) => hostPort(l, "--listen"));
  const adminAddr = settings.admin ? hostPort(settings.admin, "--admin") : undefined;
  // The admin page has no TLS and controls registrations: loopback only.
  if (adminAddr && !/^(127\.0\.0\.1|::1|localhost)$/.test(adminAddr.host)) throw new CliError("--admin must be 127.0.0.1, [::1] or localhost");
  const now = relayClock();
  // Made first, 0700, by itself: the log folder below is made recursively 0750 and would
  // otherwise create the data dir with it, letting the group list it (SECURITY.md §8).
  try {
    ensureDataDir(dataDir);
  } catch (e) {
    throw new CliError(`cannot create the data dir ${dataDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const logDir = settings.log_dir ?? (service ? systemLogDir() : join(dataDir, "logs"));

  let terminal: TerminalStatus | undefined;
  const say = (line: string) => (terminal ? terminal.print(line) : out(line));
  let log: DailyLog;
  try {
    // A service's lines go to the files only: the journal would hold every one twice.
    log = new DailyLog({ dir: logDir, days: settings.log_days, now: () => new Date(now()), echo: service ? undefined : say });
  } catch (e) {
    throw new CliError(`cannot write the log in ${logDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (cluster && offlineMail === "on") say(`offline mail: kept in the cluster's bucket "smsg_mail", replicated as the directory`);
  const relay = await startRelay({
    listen,
    dataDir,
    log,
    now,
    cluster,
    options: {
      heartbeatTimeout: settings.heartbeat_timeout,
      handshakeTimeout: settings.handshake_timeout,
      maxMessageBytes: Math.floor(settings.max_message_mb * 1024 * 1024),
      maxConnections: settings.max_connections,
      maxConnectionsPerAddress: settings.max_connections_per_address,
      failedLoginsBurst: settings.failed_logins_burst,
      failedLoginsPerMinute: settings.failed_logins_per_minute,
      failedLoginsPerUserBurst: settings.failed_logins_per_user_burst,
      failedLoginsPerUserPerHour: settings.failed_logins_per_user_per_hour,
      failedChangesBurst: settings.failed_changes_burst,
      failedChangesPerHour: settings.failed_changes_per_hour,
      messagesPerMinute: settings.messages_per_minute,
      maxPending: settings.max_pending,
      shutdownGrace: settings.shutdown_grace,
      handshakesPerSecond: settings.handshakes_per_second,
      handshakesBurst: settings.handshakes_burst,
      maxOutputPerSession: settings.max_output_per_session_kb * 1024,
      maxOutputPerUser: settings.max_output_per_user_kb * 1024,
      maxOutputTotal: settings.max_output_total_mb * 1024 * 1024,
      maxWindowPerTransfer: settings.max_window_per_transfer_mb * 1024 * 1024,
      maxWindowTotal: settings.max_window_total_mb * 1024 * 1024,
      offlineMail: offlineMail === "on",
      mailboxQuotaBytes: Math.floor(settings.mailbox_quota_mb * 1024 * 1024),
      mailboxRetentionMs: Math.round(settings.mailbox_retention_days * 86400_000),
    },
  }).catch((e: Error) => {
    log.close();
    throw new CliError(`cannot start the relay: ${e.message}`);
  });
  const listening = relay.addresses.map(formatHostPort);
  // Paths, not secrets: ctrl run on this data dir reads them and acts on the cluster's directory.
  if (cluster) writeFileSync(join(dataDir, CLUSTER_FILE), JSON.stringify({ ...cluster, node: undefined }, null, 2) + "\n", { mode: 0o600 });
  else rmSync(join(dataDir, CLUSTER_FILE), { force: true });
  if (cluster) say(`cluster node ${cluster.node} on NATS ${cluster.servers.join(",")}`);
  say(`relay key: ${relay.relayKey}`);
  for (const a of listening) say(`listening on ${a}`);
  say(`log: ${logDir}`);

  let admin: RunningAdmin | undefined;
  if (adminAddr) {
    try {
      admin = startAdmin({ core: relay.core, log, relayKey: relay.relayKey, listen: listening, logFile: () => log.path, startedAt: now() }, adminAddr);
    } catch (e) {
      await relay.stop(0);
      throw new CliError(`cannot serve the admin page on ${formatHostPort(adminAddr)} (${(e as Error).message})`);
    }
    writeFileSync(join(dataDir, ADMIN_URL_FILE), admin.url + "\n", { mode: 0o600 });
    say(`admin: ${admin.url}`);
    // A service's standard output is a journal others may read: no login link there.
    if (service) say(`admin login: run \`smsg ctrl --data ${dataDir} admin-login\` for a one-time link`);
    else say(`admin login: ${admin.loginUrl(LOGIN_LINK_MS)}`);
  }

  if (process.stdout.isTTY && !service) {
    const started = now();
    terminal = new TerminalStatus(
      (s) => process.stdout.write(s),
      () => ({
        online: relay.core.hub.online(),
        connections: relay.core.sessions.size,
        transfers: relay.core.transfers,
        messages: relay.core.stats.messages,
        bytes: relay.core.stats.bytes,
        logins: relay.core.stats.logins,
        failedLogins: relay.core.stats.failedLogins,
        pending: relay.core.directory.pendingCount(),
        uptimeMs: now() - started,
      }),
      () => process.stdout.columns || 100,
    );
    terminal.start();
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      if (signal === "SIGINT") process.exit(130); // a second Ctrl-C: now
      return;
    }
    stopping = true;
    say(`stopping (${signal}): transfers in flight have up to ${settings.shutdown_grace} s to finish`);
    await relay.stop();
    await admin?.stop();
    if (admin) rmSync(join(dataDir, ADMIN_URL_FILE), { force: true });
    terminal?.stop();
    terminal = undefined;
    log.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}
