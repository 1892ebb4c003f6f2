// The single binary: `scripts/build.ts --target linux-x64` makes it, and from an
// empty folder, with no node_modules and no bun on PATH, it runs the relay (with the admin
// page and its htmx), ctrl, register-code and a client whose mailbox serves its embedded
// assets and whose tray writes out the embedded helper.

import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type Subprocess } from "bun";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir, waitFor } from "../support/harness.ts";

const root = tempDir("smsg-binary-");
const procs: Subprocess[] = [];
afterAll(async () => {
  for (const p of procs) {
    p.kill("SIGTERM");
    await p.exited;
  }
  rmSync(root, { recursive: true, force: true });
});

const bin = join(root, "bin", "smsg");
const env = { PATH: "/usr/bin:/bin", HOME: join(root, "home"), SMSG_PASSWORD: "" };

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync([bin, ...args], { cwd: root, env, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function start(args: string[], extraEnv: Record<string, string> = {}): { lines: string[]; line(re: RegExp): Promise<RegExpMatchArray> } {
  const p = spawn([bin, ...args], { cwd: root, env: { ...env, ...extraEnv }, stdout: "pipe", stderr: "pipe" });
  procs.push(p);
  const lines: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of s) {
      buf += new TextDecoder().decode(chunk);
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  };
  void pump(p.stdout);
  void pump(p.stderr);
  return {
    lines,
    line: (re) => waitFor(`${args[0]} to print ${re}\n${lines.join("\n")}`, () => lines.map((l) => l.match(re)).find((m) => m) ?? undefined),
  };
}

describe("single binary", () => {
  test("built for linux-x64, it runs relay, ctrl and client with nothing else installed", async () => {
    const out = join(root, "dist");
    const build = spawnSync([process.execPath, join(ROOT, "scripts/build.ts"), "--target", "linux-x64", "--outdir", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(build.stderr.toString()).toBe("");
    expect(build.exitCode).toBe(0);
    mkdirSync(join(root, "bin"));
    copyFileSync(join(out, "smsg-linux-x64"), bin);
    spawnSync(["chmod", "755", bin]);
    expect(existsSync(join(root, "node_modules"))).toBe(false);

    const relayData = join(root, "relay");
    const relay = start(["relay", "--data", relayData, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    const key = (await relay.line(/^relay key: (smsgrelay1\w+)$/))[1]!;
    const port = Number((await relay.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]);
    const login = (await relay.line(/^admin login: (http:\S+)$/))[1]!;
    const loggedIn = await fetch(login, { redirect: "manual" });
    const cookie = loggedIn.headers.get("set-cookie")!.split(";")[0]!;
    const token = loggedIn.headers.get("location")!.replace("/#t=", ""); // the page token (SPEC.md §10)
    const admin = await fetch(new URL("/", login), { headers: { cookie, "x-smsg-token": token } });
    expect(await admin.text()).toContain(key);
    expect((await fetch(new URL("/assets/session.js", login))).status).toBe(200);
    const htmx = await fetch(new URL("/assets/htmx.min.js", login));
    expect(await htmx.text()).toBe(readFileSync(join(ROOT, "node_modules/htmx.org/dist/htmx.min.js"), "utf8"));

    const pw = join(root, "alice.password");
    writeFileSync(pw, "alice's password\n", { mode: 0o600 });
    const code = run(["register-code", "--user", "alice", "--password-file", pw]);
    expect(code.code).toBe(0);
    expect(run(["ctrl", "--data", relayData, "users", "add", "alice", code.stdout.trim()]).code).toBe(0);
    expect(run(["ctrl", "--data", relayData, "relay-key"]).stdout.trim()).toBe(key);

    // The tray gets a display that does not exist: its helper is still written out to run.
    const clientData = join(root, "alice");
    const client = start(["client", "--server", `127.0.0.1:${port}`, "--user", "alice", "--data", clientData, "--password-file", pw, "--ui", "127.0.0.1:0", "--relay-key", key], { DISPLAY: ":97" });
    const mailbox = (await client.line(/^mailbox: (http:\S+)$/))[1]!;
    await waitFor("alice connected", () => {
      const st = run(["status", "--data", clientData, "--json"]);
      return st.code === 0 && (JSON.parse(st.stdout) as { connected: boolean }).connected;
    }, 30_000, 200);
    for (const [name, type] of [["htmx.min.js", "javascript"], ["session.js", "javascript"], ["app.css", "text/css"], ["new-message.wav", "audio/wav"]] as const) {
      const r = await fetch(`${mailbox}/assets/${name}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain(type);
      expect((await r.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    const helper = await waitFor("the tray helper written out", () => {
      const dir = join(clientData, "tray");
      return existsSync(dir) ? readdirSync(dir).find((f) => /^tray_linux_release-[0-9a-f]{16}$/.test(f)) : undefined;
    });
    expect(readFileSync(join(clientData, "tray", helper)).equals(readFileSync(join(ROOT, "node_modules/systray2/traybin/tray_linux_release")))).toBe(true);
    // And the relay saw it all in its daily log.
    const log = readFileSync(join(relayData, "logs", `relay-${new Date().toISOString().slice(0, 10)}.log`), "utf8");
    expect(log).toContain("info login user=alice addr=127.0.0.1");
  }, 240_000);
});
