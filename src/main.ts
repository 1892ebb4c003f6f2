#!/usr/bin/env bun
// smsg's one entry point: argv -> relay | ctrl | client | send | ... (README "Commands").
// The only place that builds real sockets, databases and clocks for a command.

import { Command, Option } from "commander";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { basename, join } from "node:path";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { startRelay, type ListenAddress } from "./server/relay.ts";
import { streamLog } from "./server/log.ts";
import { Directory } from "./server/directory.ts";
import { runClient, type RunningClient } from "./client/run-client.ts";
import { startTray } from "./client/tray/start-tray.ts";
import { ApiClient, sendUploadBody } from "./client/api-client.ts";
import type { ApiSummary as Summary } from "./client/api.ts";
import { CliError } from "./cli/cli-error.ts";
import { LONG_LIVED_COMMANDS, restartWithAllocatorEnv } from "./cli/allocator-env.ts";
import { confirm, promptHidden, readPassword } from "./client/password.ts";
import { ACCEPT_KEY } from "./client/contact-list.ts";
import type { ContactView } from "./views/contact-view.ts";
import { WrongPasswordError } from "./client/store.ts";
import { UserError } from "./client/user-error.ts";
import { decodeRelayKey, deriveUserKeys, encodeRegistrationCode } from "./protocol/keys.ts";
import { ProtocolError } from "./protocol/errors.ts";
import { checkUserId } from "./protocol/user-id.ts";
import { addRelayCommand } from "./relay-command.ts";
import { embeddedTrayHelper } from "./client/tray-helpers.ts";
import { addCtrlCommand } from "./ctrl-command.ts";
import { HostPortError, parseHostPort as parseHostPortText } from "./net/host-port.ts";
import { readInvite } from "./client/invite-source.ts";
import { terminalSafe as t } from "./client/terminal-text.ts";
import { startClusterDemo } from "./cluster-demo.ts";
import { addMailCommands } from "./client-mail-commands.ts";

const out = (line: string) => console.log(line);

export function parseHostPort(s: string, what: string): ListenAddress {
  try {
    return parseHostPortText(s, what);
  } catch (e) {
    if (e instanceof HostPortError) throw new CliError(e.message);
    throw e;
  }
}

function positive(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new CliError(`${name} must be a positive number of seconds`);
    return n;
  };
}

function userId(u: string): string {
  try {
    return checkUserId(u);
  } catch {
    throw new CliError(`"${u}" is not a valid user id (1-32 of a-z 0-9 . _ - starting with a letter or digit)`);
  }
}

const program = new Command("smsg")
  .description("self-hosted end-to-end encrypted private mail")
  .showHelpAfterError()
  .exitOverride();

addRelayCommand(program, out);
addCtrlCommand(program, out);

program
  .command("register-code")
  .description("print your registration code, to send to the relay's operator")
  .requiredOption("--user <user>", "your user id")
  .option("--password-file <file>", "read the password from the first line of this file")
  .action(async (o: { user: string; passwordFile?: string }) => {
    const user = userId(o.user);
    const pw = await readPassword(o.passwordFile, `password for ${user}: `);
    out(encodeRegistrationCode((await deriveUserKeys(user, pw)).login.publicKey));
  });

program
  .command("client")
  .description("run the client daemon: relay connection, encrypted store, local mailbox API")
  .requiredOption("--server <host:port>", "the relay, HOST:PORT or [IPv6]:PORT; a relay cluster's nodes as a comma-separated list (tried in random order; a name with several addresses means each)")
  .requiredOption("--user <user>", "your user id")
  .requiredOption("--data <dir>", "your data dir (encrypted messages)")
  .option("--password-file <file>", "read the password from the first line of this file")
  .option("--ui <addr:port>", "loopback address for the mailbox and API (default 127.0.0.1 and a port fixed per data dir)")
  .option("--no-tray", "do not show a tray icon")
  .option("--relay-key <key>", "the relay's key (smsgrelay1...); replaces the pinned one")
  .option("--invite-file <file>", "a one-time invite from the operator (smsginvite1...) in the first line of this file (or in SMSG_INVITE): registers you at the first login")
  .addOption(new Option("--invite <token>", "the invite on the command line, visible to other local users who could use it first: prefer --invite-file").conflicts("inviteFile"))
  .option("--heartbeat <seconds>", "heartbeat interval", positive("--heartbeat"), 30)
  .option("--max-backoff <seconds>", "longest wait between reconnection attempts", positive("--max-backoff"), 30)
  .action(async (o: { server: string; user: string; data: string; passwordFile?: string; ui?: string; tray: boolean; relayKey?: string; invite?: string; inviteFile?: string; heartbeat: number; maxBackoff: number }) => {
    const servers = o.server.split(",").map((x) => parseHostPort(x.trim(), "--server"));
    const server = servers[0]!;
    const user = userId(o.user);
    const ui = o.ui ? parseHostPort(o.ui, "--ui") : undefined;
    // Exactly the names the API's Host check accepts (DNS rebinding defence).
    if (ui && !/^(127\.0\.0\.1|::1|localhost)$/.test(ui.host)) throw new CliError("--ui must be 127.0.0.1, [::1] or localhost");
    let relayKey: Uint8Array | undefined;
    if (o.relayKey) {
      try {
        relayKey = decodeRelayKey(o.relayKey);
      } catch {
        throw new CliError(`"${o.relayKey}" is not a relay key (smsgrelay1..., checksum or format wrong)`);
      }
    }
    const given = readInvite(o);
    // On first contact the client would trust any relay key: an impostor relay would get
    // the invite and could register its own key as this user (SECURITY.md §7).
    if (given && !relayKey) throw new CliError(`${given.from} needs --relay-key (the relay key the operator gave you with the invite)`);
    const invite = given?.token;
    // No password source and no terminal (a service, a tray autostart): start locked and
    // let the mailbox unlock it.
    const password =
      o.passwordFile || process.env.SMSG_PASSWORD || process.stdin.isTTY
        ? await readPassword(o.passwordFile, `password for ${user}: `)
        : undefined;
    // Log lines carry the relay's reasons and others' user ids: no control sequences.
    const log = (line: string) => out(`${new Date().toISOString()} ${t(line)}`);
    const client = await runClient({
      host: server.host,
      port: server.port,
      servers,
      user,
      password,
      dataDir: o.data,
      ui,
      relayKey,
      invite,
      heartbeat: o.heartbeat,
      maxBackoff: o.maxBackoff,
      log,
    });
    out(`mailbox: ${client.url}`);
    if (!client.host.unlocked) out(`locked: open the mailbox to unlock ${user}`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return; // the tray's Quit and a signal may both arrive
      stopping = true;
      await tray?.stop();
      await client.stop();
      process.exit(0);
    };
    const tray = o.tray ? startTray({ host: client.host, dataDir: o.data, quit: () => void stop(), log, helperSource: embeddedTrayHelper(process.platform) }) : undefined;
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });

program
  .command("status")
  .description("the running client's connection state")
  .requiredOption("--data <dir>", "the client's data dir")
  .option("--json", "JSON output")
  .action(async (o: { data: string; json?: boolean }) => {
    const s = await new ApiClient(o.data).get<Record<string, unknown>>("/api/status");
    if (o.json) return out(JSON.stringify(s));
    out(s.connected ? `connected as ${t(String(s.user))}` : `not connected: ${t(String(s.error))}`);
    out(`relay key: ${t(String(s.relayKey ?? "(not pinned yet)"))}`);
    out(`mailbox: ${t(String(s.uiUrl))}`);
    out(`queued: ${s.queued}  unread: ${s.unread}`);
  });

program
  .command("send")
  .description("send a message (queued if a recipient is offline)")
  .addHelpText("after", "\n--subject and --body are in the command line, which is visible to other local users (ps):\nprefer --body-file FILE, or --body-file - with the text on stdin.")
  .requiredOption("--data <dir>", "the client's data dir")
  .requiredOption("--to <users>", "recipients, comma separated")
  .option("--body-file <file>", "read the message text from a file, or from stdin if FILE is -")
  .requiredOption("--subject <text>", "subject (visible to other local users in the process list)")
  .addOption(new Option("--body <text>", "message text (visible to other local users in the process list)").conflicts("bodyFile"))
  .option("--attach <file>", "attach a file (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(async (o: { data: string; to: string; subject: string; body?: string; bodyFile?: string; attach: string[] }) => {
    if (o.body === undefined && o.bodyFile === undefined) throw new CliError("give the message with --body-file FILE (- for stdin) or --body TEXT");
    let body = o.body;
    if (o.bodyFile === "-") body = await Bun.stdin.text(); // stays out of argv, which `ps` shows
    else if (o.bodyFile !== undefined) {
      try {
        body = readFileSync(o.bodyFile, "utf8");
      } catch {
        throw new CliError(`cannot read ${o.bodyFile}`);
      }
    }
    const api = new ApiClient(o.data);
    const message = { to: o.to.split(","), subject: o.subject, body: body ?? "" };
    // With attachments, one request carries the message and their bytes: the daemon starts
    // sending while it is still storing them (CLIENT.md §2.3).
    const files = await Promise.all(
      o.attach.map(async (path) => {
        const f = Bun.file(path);
        if (!(await f.exists())) throw new CliError(`cannot read the attachment ${path}`);
        return { f, name: basename(path), size: f.size };
      }),
    );
    const r =
      files.length === 0
        ? await api.post<{ id: string; queued: string[] }>("/api/send", { ...message, attachments: [] })
        : await api.request<{ id: string; queued: string[] }>(
            "POST",
            "/api/send/upload",
            sendUploadBody({ ...message, attachments: files.map(({ name, size }) => ({ name, size })) }, files.map((x) => x.f)),
            "application/octet-stream",
          );
    out(r.queued.length ? `queued ${t(r.id)} (offline: ${r.queued.map((u) => t(u)).join(", ")}; it goes when they connect)` : `sending ${t(r.id)}`);
  });

for (const folder of ["inbox", "outbox"] as const) {
  program
    .command(folder)
    .description(folder === "inbox" ? "received messages" : "sent messages (S delivered, Q queued, H held)")
    .requiredOption("--data <dir>", "the client's data dir")
    .option("--json", "JSON output")
    .action(async (o: { data: string; json?: boolean }) => {
      const list = await new ApiClient(o.data).get<Summary[]>(`/api/${folder}`);
      if (o.json) return out(JSON.stringify(list));
      if (list.length === 0) return out(`${folder} is empty`);
      for (const m of list) {
        const who = folder === "inbox" ? m.from : m.to.join(",");
        const att = m.attachments.length ? ` [${m.attachments.length} attachment(s)]` : "";
        out(`${t(m.id)}  ${t(m.flags || "-").padEnd(2)} ${t(m.date)}  ${t(who)}  ${t(m.subject)}${att}`);
      }
    });
}

program
  .command("show <id>")
  .description("show one message; marks it read")
  .requiredOption("--data <dir>", "the client's data dir")
  .option("--json", "JSON output")
  .option("--save-attachments <dir>", "save its attachments into this folder")
  .action(async (id: string, o: { data: string; json?: boolean; saveAttachments?: string }) => {
    const api = new ApiClient(o.data);
    const m = await api.get<Summary & { body: string }>(`/api/messages/${encodeURIComponent(id)}`);
    if (o.saveAttachments) {
      mkdirSync(o.saveAttachments, { recursive: true });
      for (const [i, a] of m.attachments.entries()) {
        const res = await api.download(`/api/messages/${encodeURIComponent(id)}/attachments/${i}`);
        const path = freeName(o.saveAttachments, a.name);
        await Bun.write(path, res);
        if (!o.json) out(`saved ${t(path)}`);
      }
    }
    if (o.json) return out(JSON.stringify(m));
    out(`From: ${t(m.from)}\nTo: ${t(m.to.join(", "))}\nDate: ${t(m.date)}\nSubject: ${t(m.subject)}`);
    for (const a of m.attachments) out(`Attachment: ${t(a.name)} (${a.size} bytes)`);
    out(`\n${t(m.body, "text")}`);
  });

/** Never overwrite: "name", then "name (1)", ... The name itself has no path parts (SPEC.md §5.3). */
function freeName(dir: string, name: string): string {
  const safe = basename(name);
  let path = join(dir, safe);
  for (let i = 1; existsSync(path); i++) {
    const dot = safe.lastIndexOf(".");
    path = join(dir, dot > 0 ? `${safe.slice(0, dot)} (${i})${safe.slice(dot)}` : `${safe} (${i})`);
  }
  return path;
}

program
  .command("users")
  .description("users connected to the relay now")
  .requiredOption("--data <dir>", "the client's data dir")
  .option("--json", "JSON output")
  .action(async (o: { data: string; json?: boolean }) => {
    const users = await new ApiClient(o.data).get<string[]>("/api/users");
    out(o.json ? JSON.stringify(users) : users.map((u) => t(u)).join("\n") || "nobody is connected");
  });

program
  .command("contacts")
  .description("pinned identities of the people you wrote with, and their safety numbers")
  .requiredOption("--data <dir>", "the client's data dir")
  .option("--json", "JSON output")
  .action(async (o: { data: string; json?: boolean }) => {
    const list = await new ApiClient(o.data).get<ContactView[]>("/api/contacts");
    if (o.json) return out(JSON.stringify(list));
    for (const c of list) {
      out(`${t(c.user)}\t${t(c.identity)}\tsafety number ${c.safetyNumber}`);
      if (c.changed) {
        out(`${t(c.user)}\tIDENTITY CHANGED to ${t(c.newIdentity ?? "")}\tnew safety number ${c.newSafetyNumber}`);
        out(`  check the new safety number with ${t(c.user)}, then \`smsg accept ${t(c.user)}\``);
      }
    }
  });

program
  .command("accept <user>")
  .description("accept a contact's changed identity key after checking its safety number; their held messages go")
  .requiredOption("--data <dir>", "the client's data dir")
  .option("--key <key>", "the changed identity key you checked (64 hex digits, from `smsg contacts`): accept only that one")
  .action(async (user: string, o: { data: string; key?: string }) => {
    const api = new ApiClient(o.data);
    const c = (await api.get<ContactView[]>("/api/contacts")).find((x) => x.user === userId(user));
    if (!c?.newIdentity) throw new CliError(`no changed identity is waiting for ${user}`);
    out(`${c.user}'s new identity key: ${c.newIdentity}`);
    out(`new safety number: ${c.newSafetyNumber}`);
    let key = o.key?.trim().toLowerCase();
    if (key !== undefined && !ACCEPT_KEY.test(key)) throw new CliError("--key must be the 64 hex digits of the new identity key, as `smsg contacts` shows it");
    if (key === undefined) {
      // Never blind: the person confirms the number shown above, or names the key they checked.
      if (!process.stdin.isTTY) throw new CliError(`not a terminal: check the safety number, then run \`smsg accept ${c.user} --key KEY\` with the key you checked`);
      if (!(await confirm(`Does ${c.user} read you the same safety number? Accept this key [y/N] `))) throw new CliError("not accepted");
      key = c.newIdentity;
    }
    await api.post(`/api/contacts/${encodeURIComponent(c.user)}/accept`, { key });
    out(`accepted the new identity of ${c.user}`);
  });

addMailCommands(program, out);

program
  .command("passwd")
  .description("change the password of a connected client: new login, identity and store keys; contacts follow without a hold")
  .requiredOption("--data <dir>", "the client's data dir")
  .option("--password-file <file>", "the current password, from the first line of this file")
  .option("--new-password-file <file>", "the new password, from the first line of this file")
  .action(async (o: { data: string; passwordFile?: string; newPasswordFile?: string }) => {
    const api = new ApiClient(o.data);
    const password = await readPassword(o.passwordFile, "current password: ");
    if (!o.newPasswordFile && !process.stdin.isTTY) throw new CliError("no new password: use --new-password-file FILE, or run in a terminal");
    const newPassword = o.newPasswordFile ? await readPassword(o.newPasswordFile, "") : await readNewPassword();
    await api.post("/api/passwd", { password, newPassword });
    out("password changed: the relay and this client's store use the new password; the old one no longer unlocks nor logs in");
  });

/** The new password typed twice on the terminal, hidden. */
async function readNewPassword(): Promise<string> {
  const first = await promptHidden("new password: ");
  if (first === "") throw new CliError("the new password is empty");
  if ((await promptHidden("new password again: ")) !== first) throw new CliError("the two new passwords differ; nothing changed");
  return first;
}

program
  .command("demo")
  .description("a relay and two clients, alice and bob, on loopback in a temporary folder")
  .option("--cluster", "a NATS server and two relay nodes instead, alice on one and bob on the other (needs nats-server)")
  .action(async (o: { cluster?: boolean }) => {
    const dir = mkdtempSync(join(tmpdir(), "smsg-demo-"));
    let cluster;
    try {
      cluster = o.cluster ? await startClusterDemo(dir) : undefined;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const relays = cluster?.relays ?? [
      await startRelay({
        listen: [{ host: "127.0.0.1", port: 0 }],
        dataDir: join(dir, "relay"),
        log: streamLog(() => {}),
      }),
    ];
    const relay = relays[0]!;
    const clients: RunningClient[] = [];
    const dirOf = (u: string) => join(dir, u);
    for (const [i, user] of ["alice", "bob"].entries()) {
      const password = randomBytes(9).toString("base64url");
      const keys = await deriveUserKeys(user, password);
      // In a cluster the first node's directory is the cluster's: bob's node sees him at once.
      if (cluster) relay.core.directory.add(user, keys.login.publicKey, Date.now());
      else {
        const d = new Directory(join(dir, "relay", "relay.db"));
        d.add(user, keys.login.publicKey, Date.now());
        d.close();
      }
      const port = relays[i % relays.length]!.addresses[0]!.port;
      mkdirSync(dirOf(user), { recursive: true, mode: 0o700 });
      writeFileSync(join(dirOf(user), "password"), password + "\n", { mode: 0o600 });
      const c = await runClient({
        host: "127.0.0.1",
        port,
        user,
        password,
        dataDir: dirOf(user),
        ui: { host: "127.0.0.1", port: 0 },
        relayKey: relay.core.relayKey.publicKey,
        heartbeat: 30,
        maxBackoff: 5,
        log: () => {},
      });
      clients.push(c);
      out(`${user}: mailbox ${c.url}  password ${password}  data ${dirOf(user)}${cluster ? `  on node${i + 1} (127.0.0.1:${port})` : ""}`);
    }
    if (cluster) out(`relay cluster: node1 127.0.0.1:${relays[0]!.addresses[0]!.port}, node2 127.0.0.1:${relays[1]!.addresses[0]!.port} on NATS ${cluster.natsUrl}  key ${relay.relayKey}`);
    else out(`relay: 127.0.0.1:${relay.addresses[0]!.port}  key ${relay.relayKey}`);
    out("");
    out("Open alice's and bob's mailboxes in your browser and unlock each with its password.");
    out("Or from another terminal:");
    out(`  echo "Hi Bob" | npx bun src/main.ts send --data ${dirOf("alice")} --to bob --subject "Hello" --body-file -`);
    out(`  npx bun src/main.ts inbox --data ${dirOf("bob")}`);
    out(`  npx bun src/main.ts show  --data ${dirOf("bob")} ID`);
    out(`  npx bun src/main.ts users --data ${dirOf("bob")}`);
    out("Ctrl-C stops everything and removes the folder.");
    const stop = async () => {
      for (const c of clients) await c.stop();
      if (cluster) await cluster.stop();
      else await relay.stop(2); // a demo: no long wait for transfers in flight
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });

export async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  const err = e as { code?: string; exitCode?: number; message?: string };
  if (typeof err?.code === "string" && err.code.startsWith("commander.")) {
    return err.exitCode ?? 1; // commander already printed help or the usage error
  }
  // Messages may carry the daemon's or the relay's words: no control sequences either.
  if (e instanceof CliError) console.error(`smsg: ${t(e.message)}`);
  else if (e instanceof WrongPasswordError) console.error("smsg: wrong password: it does not open this data dir");
  else if (e instanceof UserError) console.error(`smsg: ${t(e.message)}`);
  else if (e instanceof ProtocolError) console.error(`smsg: ${t(e.message)}`);
  else {
    console.error(e);
    return 70;
  }
  return 1;
}

if (import.meta.main) {
  if (LONG_LIVED_COMMANDS.has(process.argv[2] ?? "")) restartWithAllocatorEnv();
  const code = await main(process.argv);
  if (code !== 0) process.exit(code);
}
