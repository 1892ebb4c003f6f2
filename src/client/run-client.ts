// Starting a client daemon for real (CLIENT.md §2): keys from the password, the store in the
// data dir, the daemon, and its loopback API with an owner-only token file. Used by the
// `client` and `demo` commands alike.

import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DaemonOptions } from "./daemon.ts";
import { ClientHost } from "./host.ts";
import { apiApp } from "./api.ts";
import { loopbackHosts } from "../web/loopback-host.ts";
import { MAX_SEND_LINE, MAX_UPLOAD } from "./attachment-http.ts";
import { mountMailbox } from "./mailbox/mailbox-app.tsx";
import { removeStaleCopies } from "./open-file.ts";
import { CliError } from "../cli/cli-error.ts";
import { formatHostPort } from "../net/host-port.ts";

export const TOKEN_FILE = "api-token";
export const DAEMON_FILE = "daemon.json";

export interface RunningClient {
  host: ClientHost;
  url: string;
  stop(): Promise<void>;
}

export interface ClientArgs extends DaemonOptions {
  user: string;
  /** Absent: start locked; the mailbox (or POST /api/unlock) unlocks it. */
  password?: string;
  dataDir: string;
  ui?: { host: string; port: number };
  log: (line: string) => void;
}

/** A port that stays the same for a data dir across restarts, so bookmarks keep working. */
export function defaultUiPort(dataDir: string): number {
  const h = createHash("sha256").update(realpathSync(dataDir)).digest();
  return 20000 + (h.readUInt16BE(0) % 20000);
}

export async function runClient(a: ClientArgs): Promise<RunningClient> {
  mkdirSync(a.dataDir, { recursive: true, mode: 0o700 });
  const daemonFile = join(a.dataDir, DAEMON_FILE);
  if (existsSync(daemonFile)) {
    const pid = Number((JSON.parse(readFileSync(daemonFile, "utf8")) as { pid?: number }).pid);
    if (pid && pid !== process.pid && processAlive(pid)) {
      throw new CliError(`a client is already running for ${a.dataDir} (pid ${pid})`);
    }
  }
  const host = new ClientHost({ user: a.user, dataDir: a.dataDir, opts: a, log: a.log });
  removeStaleCopies();
  // Unlock before listening: a wrong password on the command line ends here, loudly.
  if (a.password !== undefined) await host.unlock(a.password);

  const token = randomBytes(32).toString("hex");
  let port = 0;
  const hostname = a.ui?.host ?? "127.0.0.1";
  const app = apiApp(host, token, () => loopbackHosts(port));
  mountMailbox(app, host);
  let server: ReturnType<typeof Bun.serve>;
  // Bun refuses request bodies over 128 MiB unless told otherwise: uploads go up to
  // MAX_UPLOAD (after the first line of a combined send, CLIENT.md §2.3), and one byte more
  // reaches the handler, which refuses it in a sentence.
  const serve = (p: number) => Bun.serve({ hostname, port: p, fetch: app.fetch, idleTimeout: 0, maxRequestBodySize: MAX_UPLOAD + MAX_SEND_LINE + 1 });
  try {
    server = serve(a.ui?.port ?? defaultUiPort(a.dataDir));
  } catch (e) {
    if (a.ui) {
      host.stop();
      throw new CliError(`cannot listen on ${hostname}:${a.ui.port} for the mailbox (${(e as Error).message})`);
    }
    server = serve(0); // the stable port is taken: any free one
  }
  port = server.port!;
  const url = `http://${formatHostPort({ host: hostname, port })}`;
  host.uiUrl = url;
  writeFileSync(join(a.dataDir, TOKEN_FILE), token + "\n", { mode: 0o600 });
  writeFileSync(daemonFile, JSON.stringify({ url, pid: process.pid }) + "\n", { mode: 0o600 });

  return {
    host,
    url,
    async stop() {
      host.stop();
      await server.stop(true);
      rmSync(daemonFile, { force: true });
      rmSync(join(a.dataDir, TOKEN_FILE), { force: true });
    },
  };
}

/** Whether pid is a live process of ours (EPERM: another user's, so not our daemon). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
