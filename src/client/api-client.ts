// The CLI side of the local API (README "Commands", CLIENT.md §2.3): finds the running daemon
// through the data dir's daemon.json and owner-only token file, makes sure it is that
// daemon (its pid lives and it proves it holds the token) before sending the token or
// anything else, and turns every failure into one sentence a person can act on.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DAEMON_FILE, TOKEN_FILE, processAlive } from "./run-client.ts";
import { CliError } from "../cli/cli-error.ts";
import { checkDaemonProof, helloNonce } from "./daemon-proof.ts";

export class ApiClient {
  readonly url: string;
  #token: string;
  #dataDir: string;
  #proven: Promise<void> | undefined;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
    let pid: unknown;
    try {
      ({ url: this.url, pid } = JSON.parse(readFileSync(join(dataDir, DAEMON_FILE), "utf8")) as { url: string; pid: unknown });
      this.#token = readFileSync(join(dataDir, TOKEN_FILE), "utf8").trim();
    } catch {
      throw new CliError(`no client is running for ${dataDir}: start one with \`smsg client --data ${dataDir} ...\``);
    }
    // A daemon that crashed leaves daemon.json behind, and its port to whoever takes it next.
    if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0 || !processAlive(pid)) {
      throw new CliError(`no client is running for ${dataDir} (its daemon.json is left over from pid ${String(pid)}, which has ended): start one with \`smsg client --data ${dataDir} ...\``);
    }
  }

  /**
   * Once per ApiClient: GET /api/hello with a fresh nonce and no token; the answer must be
   * the HMAC that only the holder of our token can make. A live pid alone proves nothing
   * (pids are reused), and the listener on the recorded port may be anyone's.
   */
  #prove(): Promise<void> {
    this.#proven ??= (async () => {
      const nonce = helloNonce();
      let proof: unknown;
      try {
        const res = await fetch(`${this.url}/api/hello?nonce=${Buffer.from(nonce).toString("hex")}`, { redirect: "manual" });
        proof = res.ok ? ((await res.json()) as { proof?: unknown }).proof : undefined;
      } catch (e) {
        if (e instanceof SyntaxError) proof = undefined; // not JSON: not our daemon
        else throw new CliError(`the client for this data dir is not answering at ${this.url}; is it running?`);
      }
      if (!checkDaemonProof(this.#token, nonce, proof)) {
        throw new CliError(`whatever answers at ${this.url} is not the client of ${this.#dataDir} (it cannot prove it holds the API token), so nothing was sent to it: restart the client`);
      }
    })();
    return this.#proven;
  }

  async request<T>(method: string, path: string, body?: RequestInit["body"], contentType?: string): Promise<T> {
    await this.#prove();
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        body,
        headers: { authorization: `Bearer ${this.#token}`, ...(contentType ? { "content-type": contentType } : {}) },
      });
    } catch {
      throw new CliError(`the client for this data dir is not answering at ${this.url}; is it running?`);
    }
    if (!res.ok) {
      const err = await res.json().catch(() => ({ error: res.statusText })) as { error?: string };
      throw new CliError(err.error ?? `request failed (${res.status})`);
    }
    return (await res.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, json: unknown): Promise<T> {
    return this.request<T>("POST", path, JSON.stringify(json), "application/json");
  }

  async download(path: string): Promise<Response> {
    await this.#prove();
    const res = await fetch(this.url + path, { headers: { authorization: `Bearer ${this.#token}` } });
    if (!res.ok) {
      const err = (await res.json().catch(() => ({}))) as { error?: string };
      throw new CliError(err.error ?? `download failed (${res.status})`);
    }
    return res;
  }
}

/**
 * The body of `POST /api/send/upload` (CLIENT.md §2.3): the message as one line of JSON, then
 * each file's bytes in order, streamed (never whole in memory). A file whose size changed
 * since `message` was made stops the send at the daemon, which then stores nothing.
 */
export function sendUploadBody(
  message: { to: string[]; subject: string; body: string; attachments: { name: string; size: number }[] },
  files: { stream(): ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> }[],
): ReadableStream<Uint8Array> {
  const parts = (async function* () {
    yield new TextEncoder().encode(`${JSON.stringify(message)}\n`);
    for (const f of files) yield* f.stream() as AsyncIterable<Uint8Array>;
  })();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const n = await parts.next();
      if (n.done) ctl.close();
      else ctl.enqueue(n.value);
    },
    async cancel() {
      await parts.return(undefined);
    },
  });
}
