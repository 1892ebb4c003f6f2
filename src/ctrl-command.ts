// `smsg ctrl` (README "Registering users", "Running as a service"): operator commands over
// a relay's data dir: users and pending logins, invites, admin login links, the service.

import type { Command } from "commander";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as users from "./ctrl/users.ts";
import { serviceControl, serviceInstall, serviceStatus, serviceUninstall, type ServiceOptions } from "./ctrl/service.ts";
import { createInvite, listInvites, parseDuration } from "./server/invites.ts";
import { createAdminLogin } from "./server/admin.ts";
import { encodeInvite, encodeRelayKey } from "./protocol/keys.ts";
import { loadOrCreateRelayKey, relayKeyExists } from "./server/relay-key.ts";
import { checkUserId } from "./protocol/user-id.ts";
import { CliError } from "./cli/cli-error.ts";
import { ADMIN_URL_FILE, CLUSTER_FILE } from "./relay-command.ts";
import { ClusterError, clusterSettingsOf, type ClusterSettings } from "./server/cluster/nats-connect.ts";

type Out = (line: string) => void;

const MAX_INVITE_MS = 365 * 86_400_000;

function duration(what: string, max: number) {
  return (v: string) => {
    const ms = parseDuration(v);
    if (ms === undefined || ms > max) throw new CliError(`${what} must be like 7d, 12h, 30m or 600s, at most ${max / 86_400_000} days`);
    return ms;
  };
}

/**
 * Root running ctrl on a data dir that belongs to another user (the service's `smsg`) acts
 * as that user, so the database files it creates stay the relay's to write.
 */
export function actAsDataDirOwner(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  let st;
  try {
    st = statSync(dataDir);
  } catch {
    return; // not made yet: it will be root's, as asked
  }
  if (st.uid === 0) return;
  process.setgid!(st.gid);
  process.setuid!(st.uid);
  try {
    accessSync(dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    throw new CliError(`${dataDir} belongs to uid ${st.uid}, who cannot reach it: check the folders above it`);
  }
}

/**
 * The cluster whose directory ctrl acts on: the --nats flags, else the one a node running
 * on this data dir wrote down (CLUSTER_FILE), else none: the data dir's own relay.db.
 */
function ctrlCluster(dataDir: string, o: Record<string, unknown>): ClusterSettings | undefined {
  const flags = { nats: typeof o.nats === "string" ? [o.nats] : undefined, nats_user: o.natsUser as string | undefined, nats_password_file: o.natsPasswordFile as string | undefined, nats_creds: o.natsCreds as string | undefined, nats_tls_ca: o.natsTlsCa as string | undefined };
  try {
    if (flags.nats) return clusterSettingsOf(flags, false);
    if (Object.values(flags).some((v) => v !== undefined)) throw new ClusterError("the --nats-* flags need --nats URL[,URL...]");
    const path = join(dataDir, CLUSTER_FILE);
    if (!existsSync(path)) return undefined;
    let saved: ClusterSettings;
    try {
      saved = JSON.parse(readFileSync(path, "utf8")) as ClusterSettings;
    } catch (e) {
      throw new ClusterError(`${path} is not readable JSON (${(e as Error).message}); give --nats and its flags instead`);
    }
    if (!Array.isArray(saved.servers)) throw new ClusterError(`${path} names no NATS servers; give --nats instead`);
    return { servers: saved.servers, user: saved.user, passwordFile: saved.passwordFile, creds: saved.creds, tlsCa: saved.tlsCa, replicas: saved.replicas ?? 0 };
  } catch (e) {
    if (e instanceof ClusterError) throw new CliError(e.message);
    throw e;
  }
}

export function addCtrlCommand(program: Command, out: Out): void {
  const ctrlCmd = program
    .command("ctrl")
    .description("operator commands over a relay's data dir")
    .requiredOption("--data <dir>", "the relay's data dir")
    .option("--nats <urls>", "URL[,URL...]: act on the directory of the relay cluster on these NATS servers (default: the one the data dir's node is in)")
    .option("--nats-user <user>", "NATS user name (with --nats-password-file)")
    .option("--nats-password-file <file>", "file holding the NATS user's password")
    .option("--nats-creds <file>", "NATS credentials file")
    .option("--nats-tls-ca <file>", "CA certificate of the NATS servers (TLS)");
  const dataOf = (cmd: Command) => (cmd.optsWithGlobals() as { data: string }).data;
  ctrlCmd.hook("preAction", (_ctrl, action) => {
    // `service` writes /etc/systemd/system and runs systemctl: it stays root.
    for (let c: Command | null = action; c; c = c.parent) if (c.name() === "service") return;
    actAsDataDirOwner(dataOf(action));
    users.useCluster(ctrlCluster(dataOf(action), action.optsWithGlobals()));
  });
  const usersCmd = ctrlCmd.command("users").description("registered users and pending logins");
  usersCmd
    .command("add <user> [code]")
    .description("register a user, with their registration code or to be approved later")
    .action((u: string, c: string | undefined, _o, cmd: Command) => users.usersAdd(dataOf(cmd), u, c, out));
  usersCmd
    .command("list")
    .option("--json", "JSON output")
    .action((o: { json?: boolean }, cmd: Command) => users.usersList(dataOf(cmd), !!o.json, out));
  usersCmd
    .command("pending")
    .description("failed logins of registered users, waiting for approval")
    .option("--json", "JSON output")
    .action((o: { json?: boolean }, cmd: Command) => users.usersPending(dataOf(cmd), !!o.json, out));
  usersCmd
    .command("approve <user> [code]")
    .description("adopt the user's pending login as their registration; CODE (from the user) must match, and is required to replace a code")
    .action((u: string, c: string | undefined, _o, cmd: Command) => users.usersApprove(dataOf(cmd), u, c, out));
  usersCmd.command("remove <user>").action((u: string, _o, cmd: Command) => users.usersRemove(dataOf(cmd), u, out));
  usersCmd.command("disable <user>").action((u: string, _o, cmd: Command) => users.usersDisable(dataOf(cmd), u, out));
  usersCmd.command("enable <user>").action((u: string, _o, cmd: Command) => users.usersEnable(dataOf(cmd), u, out));
  ctrlCmd
    .command("relay-key")
    .description("print the relay's public key, for clients' --relay-key")
    .action((_o, cmd: Command) => users.relayKey(dataOf(cmd), out));

  ctrlCmd
    .command("invite <user>")
    .description("print a one-time invite: `smsg client --invite TOKEN` registers USER's code at its first login")
    .option("--expires <duration>", "how long the invite is valid: 7d, 12h, 30m (default 7d)", duration("--expires", MAX_INVITE_MS), 7 * 86_400_000)
    .option("--json", "JSON output")
    .action(async (name: string, o: { expires: number; json?: boolean }, cmd: Command) => {
      const dataDir = dataOf(cmd);
      let user: string;
      try {
        user = checkUserId(name);
      } catch {
        throw new CliError(`"${name}" is not a valid user id (1-32 of a-z 0-9 . _ - starting with a letter or digit)`);
      }
      const now = Date.now();
      const { token, replaces } = await users.withDir(dataDir, (d) => {
        const row = d.get(user);
        if (row?.state === "disabled") throw new CliError(`${user} is disabled; enable them first`);
        if (!row) d.add(user, null, now);
        return { token: createInvite(d, user, now, o.expires), replaces: row?.code != null };
      });
      const printable = encodeInvite(token);
      const expires = new Date(now + o.expires).toISOString();
      if (o.json) return out(JSON.stringify({ user, invite: printable, expires }));
      out(printable);
      const key = relayKeyExists(dataDir) ? encodeRelayKey(loadOrCreateRelayKey(dataDir).publicKey) : "RELAY-KEY";
      console.error(
        `one-time invite for ${user}, valid until ${expires}${replaces ? `; it replaces ${user}'s current code when used` : ""}. ` +
          `Give it with the relay key, over a channel you trust; they run once:\n  smsg client --user ${user} --invite TOKEN --relay-key ${key} --server HOST:PORT --data DIR`,
      );
    });
  ctrlCmd
    .command("invites")
    .description("unused invites that have not expired (user and expiry; the tokens are not kept)")
    .option("--json", "JSON output")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const rows = (await users.withDir(dataOf(cmd), (d) => listInvites(d, Date.now()))).map((r) => ({ user: r.user, created: new Date(r.created).toISOString(), expires: new Date(r.expires).toISOString() }));
      if (o.json) return out(JSON.stringify(rows));
      if (rows.length === 0) return out("no open invites");
      for (const r of rows) out(`${r.user}\texpires ${r.expires}`);
    });

  ctrlCmd
    .command("admin-login")
    .description("print a one-time login link for the running relay's admin page (relay --admin)")
    .option("--expires <duration>", "how long the link is valid (default 1h)", duration("--expires", 7 * 86_400_000), 3600_000)
    .action(async (o: { expires: number }, cmd: Command) => {
      const dataDir = dataOf(cmd);
      let url: string;
      try {
        url = readFileSync(join(dataDir, ADMIN_URL_FILE), "utf8").trim();
      } catch {
        throw new CliError(`the relay of ${dataDir} is not serving an admin page: start it with --admin 127.0.0.1:PORT`);
      }
      const token = await users.withDir(dataDir, (d) => createAdminLogin(d, Date.now(), o.expires));
      out(`${url}/login?token=${token}`);
    });

  const serviceCmd = ctrlCmd
    .command("service")
    .description("run the relay as a system service (systemd, launchd; commands for Windows)")
    .option("--user <name>", "the system user the relay runs as", "smsg")
    .option("--config <file>", "the relay's TOML config file", "/etc/smsg/relay.toml")
    .option("--exec <path>", "the smsg binary the service runs (default: this one)")
    .option("--unit-dir <dir>", "where the unit file goes (default /etc/systemd/system, /Library/LaunchDaemons)")
    .option("--shutdown-grace <seconds>", "the relay's shutdown_grace: the service manager waits 15 s longer", "30");
  const opts = (cmd: Command): ServiceOptions => {
    const o = cmd.optsWithGlobals() as { user: string; config: string; exec?: string; unitDir?: string; shutdownGrace: string };
    const grace = Number(o.shutdownGrace);
    if (!Number.isInteger(grace) || grace < 0 || grace > 3600) throw new CliError("--shutdown-grace must be a whole number of seconds, 0 to 3600");
    return { platform: process.platform, user: o.user, config: o.config, exec: o.exec, unitDir: o.unitDir, shutdownGrace: grace };
  };
  serviceCmd
    .command("install")
    .description("write the unit (and on Linux with systemd: create the user, enable it)")
    .option("--no-enable", "only write the unit (for packaging)")
    .action((o: { enable: boolean }, cmd: Command) => serviceInstall(dataOf(cmd), { ...opts(cmd), enable: o.enable }, out));
  serviceCmd.command("uninstall").description("disable and remove the unit").action((_o, cmd: Command) => serviceUninstall(opts(cmd), out));
  serviceCmd.command("start").action((_o, cmd: Command) => serviceControl("start", opts(cmd), out));
  serviceCmd.command("stop").description("stop it gracefully (SIGTERM)").action((_o, cmd: Command) => serviceControl("stop", opts(cmd), out));
  serviceCmd.command("status").action((_o, cmd: Command) => serviceStatus(opts(cmd), out));
}
