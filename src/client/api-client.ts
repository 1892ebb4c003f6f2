// The CLI side of the local API (README "Commands"): finds the running daemon through the
// data dir's daemon.json and owner-only token file, and turns every failure into one
// sentence a person can act on.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DAEMON_FILE, TOKEN_FILE } from "./run-client.ts";
import { CliError } from "./password.ts";

export class ApiClient {
  readonly url: string;
  #token: string;

  constructor(dataDir: string) {
    try {
      this.url = (JSON.parse(readFileSync(join(dataDir, DAEMON_FILE), "utf8")) as { url: string }).url;
      this.#token = readFileSync(join(dataDir, TOKEN_FILE), "utf8").trim();
    } catch {
      throw new CliError(`no client is running for ${dataDir}: start one with \`smsg client --data ${dataDir} ...\``);
    }
  }

  async request<T>(method: string, path: string, body?: RequestInit["body"], contentType?: string): Promise<T> {
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
    const res = await fetch(this.url + path, { headers: { authorization: `Bearer ${this.#token}` } });
    if (!res.ok) throw new CliError(`download failed (${res.status})`);
    return res;
  }
}
