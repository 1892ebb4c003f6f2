// A real client daemon for the benchmark, started through the CLI a person uses
// (`smsg client`), and timed requests to its loopback API (bearer token from the data dir)
// and to its HTML mailbox (session cookie from the unlock form).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, Child, MAIN } from "./procs.ts";

export interface ClientProcess {
  child: Child;
  url: string;
  token: string;
  stop(): Promise<number>;
}

export async function startClientProcess(o: {
  user: string;
  dataDir: string;
  server: string; // HOST:PORT
  passwordFile?: string; // absent: the daemon starts locked
  relayKey?: string;
}): Promise<ClientProcess> {
  // BENCH_PROFILE=DIR writes the daemon's CPU profile there (bench/README.md, "Profiling").
  const prof = process.env.BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const args = [BUN, ...prof, MAIN, "client", "--server", o.server, "--user", o.user, "--data", o.dataDir, "--ui", "127.0.0.1:0", "--no-tray"];
  if (o.passwordFile) args.push("--password-file", o.passwordFile);
  if (o.relayKey) args.push("--relay-key", o.relayKey);
  const child = new Child(`client ${o.user}`, args);
  const url = (await child.line(/^mailbox: (http:\S+)/, 60_000))[1]!;
  const token = readFileSync(join(o.dataDir, "api-token"), "utf8").trim();
  return { child, url, token, stop: () => child.stop() };
}

/** An API request; resolves with the parsed JSON body and the milliseconds it took, body read included. */
export async function api<T>(c: ClientProcess, method: string, path: string, body?: unknown): Promise<{ value: T; ms: number; status: number }> {
  const t0 = performance.now();
  const res = await fetch(c.url + path, {
    method,
    headers: { authorization: `Bearer ${c.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { value: JSON.parse(text) as T, ms, status: res.status };
}

/** Log in to the HTML mailbox through its unlock form; returns the session cookie. */
/**
 * A mailbox session as a browser gets one: the cookie, and the page token the unlock's
 * redirect hands over in its fragment (`/inbox#t=...`), which every request must carry
 * (CLIENT.md §2.5); with the cookie alone a page is only the shell, without data.
 */
export async function mailboxSession(c: ClientProcess, password: string): Promise<{ cookie: string; token: string }> {
  const res = await fetch(c.url + "/unlock", {
    method: "POST",
    redirect: "manual",
    headers: { origin: c.url, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ password }).toString(),
  });
  await res.text();
  const cookie = res.headers.getSetCookie().map((s) => s.split(";")[0]!).join("; ");
  const token = /#t=([^&]+)/.exec(res.headers.get("location") ?? "")?.[1];
  if (res.status !== 303 || !cookie || !token) throw new Error(`mailbox unlock form: ${res.status}`);
  return { cookie, token: decodeURIComponent(token) };
}

/** A page of the HTML mailbox: its status, length and milliseconds, body read included. */
export async function page(c: ClientProcess, path: string, session: { cookie: string; token: string }): Promise<{ ms: number; status: number; html: string }> {
  const t0 = performance.now();
  const res = await fetch(c.url + path, { headers: { cookie: session.cookie, "x-smsg-token": session.token }, redirect: "manual" });
  const html = await res.text();
  return { ms: performance.now() - t0, status: res.status, html };
}
