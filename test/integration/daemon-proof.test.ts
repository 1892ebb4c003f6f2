// The CLI and a stale daemon.json (SECURITY.md §14 #8, CLIENT.md §2.3 GET /api/hello): the CLI
// sends the API token and the message text only to a daemon whose pid lives and which
// proves, with an HMAC over the CLI's fresh nonce, that it holds the token. A real listener
// on the recorded port stands for whoever took the port after a crash.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, cli, ok, passwordFile, startClient, status, type ClientHandle } from "../support/harness.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

interface Seen {
  method: string;
  url: string;
  headers: string;
  body: string;
}

/** A server that answers every request like a willing daemon would and records it all. */
function fakeDaemon(answer: (req: Request) => Response) {
  const seen: Seen[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      seen.push({ method: req.method, url: req.url, headers: JSON.stringify([...req.headers]), body: await req.text() });
      return answer(req);
    },
  });
  s.track({ stop: async () => (await server.stop(true), 0) });
  return { url: `http://127.0.0.1:${server.port}`, seen };
}

const TOKEN = randomBytes(32).toString("hex");
const BODY = "the plaintext that must not leave";

/** A data dir whose daemon.json points at url with this pid, and the usual token file. */
function staleDir(name: string, url: string, pid: number): string {
  const dir = s.path(name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "daemon.json"), JSON.stringify({ url, pid }) + "\n", { mode: 0o600 });
  writeFileSync(join(dir, "api-token"), TOKEN + "\n", { mode: 0o600 });
  writeFileSync(join(dir, "body.txt"), BODY);
  return dir;
}

const commands = (dir: string) => [
  ["send", "--data", dir, "--to", "bob", "--subject", "s", "--body-file", join(dir, "body.txt")],
  ["status", "--data", dir],
  ["inbox", "--data", dir, "--json"],
];

function leaked(seen: Seen[]): Seen[] {
  return seen.filter((r) => `${r.url} ${r.headers} ${r.body}`.includes(TOKEN) || r.body.includes(BODY) || r.headers.toLowerCase().includes("authorization"));
}

describe("a stale daemon.json", () => {
  test("a live pid but a listener that cannot prove the token: refused, and it gets neither token nor text", async () => {
    // It answers everything with 200 and a proof-shaped guess, as a squatter might.
    const fake = fakeDaemon(() => Response.json({ proof: "00".repeat(32), id: "0".repeat(32), queued: [] }));
    const dir = staleDir("squatted", fake.url, process.pid);
    for (const args of commands(dir)) {
      const r = await cli(args);
      expect([args[0], r.code, r.stdout]).toEqual([args[0], 1, ""]);
      expect(r.stderr.trim().split("\n")).toEqual([
        `smsg: whatever answers at ${fake.url} is not the client of ${dir} (it cannot prove it holds the API token), so nothing was sent to it: restart the client`,
      ]);
    }
    expect(leaked(fake.seen)).toEqual([]);
    // It was asked, and only the question without the token.
    expect(fake.seen.length).toBe(3);
    for (const r of fake.seen) expect([r.method, new URL(r.url).pathname, new URL(r.url).searchParams.get("nonce")]).toEqual(["GET", "/api/hello", expect.stringMatching(/^[0-9a-f]{64}$/)]);
    // A fresh nonce each time: a recorded answer is worth nothing next time.
    expect(new Set(fake.seen.map((r) => new URL(r.url).searchParams.get("nonce"))).size).toBe(3);
  });

  test("a listener that does not speak hello at all (404, HTML) is refused the same way", async () => {
    const fake = fakeDaemon((req) => (new URL(req.url).pathname === "/api/hello" ? new Response("<h1>hi</h1>", { status: 200 }) : new Response("no", { status: 404 })));
    const dir = staleDir("html", fake.url, process.pid);
    const r = await cli(commands(dir)[0]!);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot prove it holds the API token");
    expect(leaked(fake.seen)).toEqual([]);
  });

  test("a dead pid: refused before any connection", async () => {
    const fake = fakeDaemon(() => Response.json({ proof: "00".repeat(32) }));
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    const dir = staleDir("dead", fake.url, gone.pid);
    for (const args of commands(dir)) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toEqual([
        `smsg: no client is running for ${dir} (its daemon.json is left over from pid ${gone.pid}, which has ended): start one with \`smsg client --data ${dir} ...\``,
      ]);
    }
    expect(fake.seen).toEqual([]);
  });
});

describe("a real daemon", () => {
  let c: ClientHandle;
  beforeAll(async () => {
    // No relay needed: the client keeps retrying, and its local API answers meanwhile.
    const pw = passwordFile(s.path("pw"), "dora", "dora's password");
    c = s.track(await startClient({ user: "dora", server: "127.0.0.1:1", dataDir: s.path("dora"), passwordFile: pw }));
  }, 60_000);

  test("proves itself: the CLI works, and the proof is SPEC's HMAC", async () => {
    expect((await status(s.path("dora"))).user).toBe("dora");
    expect(await ok(["inbox", "--data", s.path("dora")])).toBe("inbox is empty\n");
    const token = readFileSync(s.path("dora", "api-token"), "utf8").trim();
    const nonce = randomBytes(32).toString("hex");
    const res = await fetch(`${c.url}/api/hello?nonce=${nonce}`);
    expect(res.status).toBe(200);
    const expected = createHmac("sha256", Buffer.from(token, "utf8")).update("smsg daemon proof v1").update(Buffer.from(nonce, "hex")).digest("hex");
    expect(await res.json()).toEqual({ proof: expected });
  });

  test("hello needs no token but a well-formed nonce and our Host; other routes still need the token", async () => {
    expect((await fetch(`${c.url}/api/hello?nonce=abc`)).status).toBe(400);
    expect((await fetch(`${c.url}/api/hello`)).status).toBe(400);
    const port = new URL(c.url).port;
    const foreign = await fetch(`${c.url}/api/hello?nonce=${"ab".repeat(32)}`, { headers: { host: `evil.example:${port}` } });
    expect(foreign.status).toBe(421);
    expect((await fetch(`${c.url}/api/status`)).status).toBe(401);
  });
});
