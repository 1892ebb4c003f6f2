// Real processes for integration tests: a relay and clients started through the same CLI a
// person uses, on loopback, in temporary folders. Waits are conditions with deadlines.

import { spawn, type Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ApiSummary as Summary } from "../../src/client/api.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const MAIN = join(ROOT, "src/main.ts");
const BUN = process.execPath;

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false && v !== null) return v as T;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

export function tempDir(prefix = "smsg-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const p = spawn([BUN, MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, SMSG_PASSWORD: "", ...env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** Run a CLI command that must succeed; return its stdout. */
export async function ok(args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`smsg ${args.join(" ")} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A long-running smsg process whose output lines are collected. */
export class Proc {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  lines: string[] = [];
  #name: string;

  constructor(name: string, args: string[], env: Record<string, string> = {}) {
    this.#name = name;
    this.proc = spawn([BUN, MAIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, SMSG_PASSWORD: "", ...env },
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
    });
    void this.#pump(this.proc.stdout);
    void this.#pump(this.proc.stderr);
  }

  async #pump(s: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of s) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) this.lines.push(buf);
  }

  line(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return waitFor(`${this.#name} to print ${re}\n${this.lines.join("\n")}`, () => {
      for (const l of this.lines) {
        const m = l.match(re);
        if (m) return m;
      }
      return undefined;
    }, timeoutMs);
  }

  get output(): string {
    return this.lines.join("\n");
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (this.proc.exitCode === null && !this.proc.killed) {
      this.proc.kill("SIGCONT"); // a test may have stopped it
      this.proc.kill(signal);
    }
    return this.proc.exited;
  }
}

export interface RelayHandle {
  proc: Proc;
  dataDir: string;
  port: number;
  key: string;
  stop(): Promise<number>;
}

export async function startRelay(opts: {
  dataDir: string;
  listen?: string[];
  heartbeatTimeout?: number;
  maxMessageMb?: number;
  /** More relay flags (--config, --admin, limits, ...). */
  extra?: string[];
  env?: Record<string, string>;
}): Promise<RelayHandle> {
  const args = ["relay", "--data", opts.dataDir];
  for (const l of opts.listen ?? ["127.0.0.1:0"]) args.push("--listen", l);
  if (opts.heartbeatTimeout) args.push("--heartbeat-timeout", String(opts.heartbeatTimeout));
  if (opts.maxMessageMb) args.push("--max-message-mb", String(opts.maxMessageMb));
  // Tests stop relays with transfers still open: 2 s of grace, not 30, unless extra says.
  args.push("--shutdown-grace", "2", ...(opts.extra ?? []));
  const proc = new Proc("relay", args, opts.env);
  const key = (await proc.line(/^relay key: (smsgrelay1\w+)/))[1]!;
  const port = Number((await proc.line(/^listening on .*:(\d+)$/))[1]);
  return { proc, dataDir: opts.dataDir, port, key, stop: () => proc.stop() };
}

export interface ClientHandle {
  proc: Proc;
  user: string;
  dataDir: string;
  passwordFile: string;
  url: string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export function passwordFile(dir: string, user: string, password: string): string {
  mkdirSync(dir, { recursive: true });
  const f = join(dir, `${user}.password`);
  writeFileSync(f, password + "\n", { mode: 0o600 });
  return f;
}

/** Register a user on the relay with the code their password gives. */
export async function register(relayData: string, user: string, pwFile: string): Promise<string> {
  const code = (await ok(["register-code", "--user", user, "--password-file", pwFile])).trim();
  await ok(["ctrl", "--data", relayData, "users", "add", user, code]);
  return code;
}

export async function startClient(opts: {
  user: string;
  server: string; // HOST:PORT
  dataDir: string;
  passwordFile: string;
  relayKey?: string;
  heartbeat?: number;
  extra?: string[];
  env?: Record<string, string>;
  /** Show the tray icon (default: --no-tray; test/tray gives it a display in env). */
  tray?: boolean;
}): Promise<ClientHandle> {
  const args = [
    "client",
    "--server",
    opts.server,
    "--user",
    opts.user,
    "--data",
    opts.dataDir,
    "--password-file",
    opts.passwordFile,
    "--ui",
    "127.0.0.1:0",
    ...(opts.tray ? [] : ["--no-tray"]),
    "--heartbeat",
    String(opts.heartbeat ?? 1),
    "--max-backoff",
    "1",
    ...(opts.relayKey ? ["--relay-key", opts.relayKey] : []),
    ...(opts.extra ?? []),
  ];
  const proc = new Proc(`client ${opts.user}`, args, opts.env ?? {});
  const url = (await proc.line(/^mailbox: (http:\S+)/))[1]!;
  return { proc, user: opts.user, dataDir: opts.dataDir, passwordFile: opts.passwordFile, url, stop: (s) => proc.stop(s) };
}

export interface Status {
  user: string;
  relay: string;
  state: "connecting" | "connected" | "retrying" | "refused" | "locked" | "stopped";
  retryAt: number | null;
  locked: boolean;
  connected: boolean;
  relayKey: string | null;
  uiUrl: string;
  queued: number;
  unread: number;
  error: string | null;
}

export async function status(dataDir: string): Promise<Status> {
  return JSON.parse(await ok(["status", "--data", dataDir, "--json"])) as Status;
}

export function waitConnected(dataDir: string, timeoutMs = 20_000): Promise<Status> {
  return waitFor(`client ${dataDir} to connect`, async () => {
    const s = await status(dataDir);
    return s.connected ? s : undefined;
  }, timeoutMs, 100);
}

/** One message as `inbox --json` and `outbox --json` print it: the local API's own type. */
export type { Summary };

/** `smsg send` from a running client's data dir (body: the subject and " body"); the new id. */
export function sendFrom(dataDir: string, to: string, subject: string, extra: string[] = []): Promise<string> {
  return sendMail(dataDir, to, subject, `${subject} body`, [], extra);
}

/** `smsg send` from a running client's data dir with this body and these files attached; the new id. */
export async function sendMail(dataDir: string, to: string, subject: string, body: string, attach: string[] = [], extra: string[] = []): Promise<string> {
  const out = await ok(["send", "--data", dataDir, "--to", to, "--subject", subject, "--body", body, ...attach.flatMap((a) => ["--attach", a]), ...extra]);
  return out.match(/[0-9a-f]{32}/)![0]!;
}

/** Wait until the client in dataDir lists message `id` in its inbox. */
export function received(dataDir: string, id: string, timeoutMs = 60_000): Promise<Summary> {
  return waitFor(`${dataDir} to receive ${id}`, async () => (await inbox(dataDir)).find((m) => m.id === id), timeoutMs, 100);
}

/** Wait until the sender's outbox shows message `id` with exactly these flags. */
export function outboxFlag(dataDir: string, id: string, flag: string): Promise<Summary> {
  return waitFor(`${id} to show ${flag}`, async () => (await outbox(dataDir)).find((m) => m.id === id && m.flags === flag), 60_000, 100);
}

export async function inbox(dataDir: string): Promise<Summary[]> {
  return JSON.parse(await ok(["inbox", "--data", dataDir, "--json"])) as Summary[];
}
export async function outbox(dataDir: string): Promise<Summary[]> {
  return JSON.parse(await ok(["outbox", "--data", dataDir, "--json"])) as Summary[];
}

/** A scratch area removed after the test file. */
export class Scratch {
  readonly root = tempDir();
  readonly procs: { stop(): Promise<number> }[] = [];
  track<T extends { stop(): Promise<number> }>(p: T): T {
    this.procs.push(p);
    return p;
  }
  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }
  async cleanup(): Promise<void> {
    for (const p of this.procs.reverse()) await p.stop().catch(() => 0);
    rmSync(this.root, { recursive: true, force: true });
  }
}
