// End to end through real processes: a dual-stack relay, clients over
// IPv4 and [::1], messages in any script to several recipients, a 50 MiB attachment, the
// offline queue, SIGSTOP/SIGCONT, a relay restart, and what crosses or rests at the relay.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  Scratch,
  cli,
  inbox,
  ok,
  outbox,
  outboxFlag,
  received,
  sendMail,
  startRelay,
  status,
  waitConnected,
  waitFor,
  type ClientHandle,
  type RelayHandle,
} from "../support/harness.ts";
import { startWorld, type World } from "../support/world.ts";
import { TapProxy } from "../support/tap-proxy.ts";

const s = new Scratch();
let relay: RelayHandle;
let w: World;

function server(family: 4 | 6, port = relay.port): string {
  return family === 4 ? `127.0.0.1:${port}` : `[::1]:${port}`;
}

/** Start a user's client over IPv4 or IPv6 without waiting for it to connect. */
function start(user: string, family: 4 | 6, port?: number): Promise<ClientHandle> {
  return w.start(user, { server: server(family, port), connected: false });
}

beforeAll(async () => {
  // Without a mailbox at the relay (--offline-mail off): these cases are today's behaviour,
  // mail to an offline user waiting in the sender's outbox; test/integration/offline-mail.test.ts has the mailbox.
  w = await startWorld(s, {
    users: ["alice", "bob", "carol", "dave", "mallory"],
    idle: ["alice", "bob", "carol", "dave", "mallory"],
    relay: { listen: ["[::]:0"], heartbeatTimeout: 3, extra: ["--offline-mail", "off"] },
  });
  relay = w.relay;
  await Promise.all([start("alice", 4), start("bob", 6), start("carol", 4)]);
  await Promise.all(["alice", "bob", "carol"].map((u) => waitConnected(s.path(u))));
}, 120_000);

afterAll(() => s.cleanup());

describe("messaging through a real relay", () => {
  test("one dual-stack listener serves IPv4 and IPv6 clients", async () => {
    const users = JSON.parse(await ok(["users", "--data", s.path("alice"), "--json"])) as string[];
    expect(users).toEqual(expect.arrayContaining(["alice", "bob", "carol"]));
    expect(relay.proc.output).toContain("[::]");
  });

  test("Chinese, Arabic and emoji reach several recipients intact, line breaks kept", async () => {
    const subject = "会议 اجتماع 🎉 — naïve";
    const body = "第一行\nالسطر الثاني\n👩‍👩‍👧 third line\n";
    const id = await sendMail(s.path("alice"), "bob,carol", subject, body);
    for (const u of ["bob", "carol"]) {
      const m = await received(s.path(u), id);
      expect(m.subject).toBe(subject);
      expect(m.from).toBe("alice");
      expect(m.to.sort()).toEqual(["bob", "carol"]);
      expect(m.flags).toBe("U");
      const full = JSON.parse(await ok(["show", id, "--data", s.path(u), "--json"])) as { body: string };
      expect(full.body).toBe(body);
    }
    await outboxFlag(s.path("alice"), id, "S");
    // Reading cleared the unread flag.
    expect((await inbox(s.path("bob"))).find((m) => m.id === id)!.flags).toBe("");
  });

  test("a 50 MiB attachment arrives byte-identical", async () => {
    const file = s.path("big.bin");
    const data = randomBytes(50 * 1024 * 1024);
    writeFileSync(file, data);
    const id = await sendMail(s.path("alice"), "bob", "big one", "see attached", [file]);
    const m = await received(s.path("bob"), id);
    expect(m.attachments).toEqual([{ name: "big.bin", size: data.length }]);
    const dest = s.path("saved-big");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    const got = readFileSync(join(dest, "big.bin"));
    expect(got.length).toBe(data.length);
    expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    await outboxFlag(s.path("alice"), id, "S");
  }, 120_000);

  test("an unknown recipient is a clear error and nothing is queued", async () => {
    const before = (await outbox(s.path("alice"))).length;
    const r = await cli(["send", "--data", s.path("alice"), "--to", "bob,nobody", "--subject", "x", "--body", "y"]);
    expect(r.code).not.toBe(0);
    expect((await outbox(s.path("alice"))).length).toBe(before);
    expect(r.stderr).toContain("unknown recipient: nobody");
    expect(r.stderr).not.toContain("    at "); // no stack trace
  });

  test("a message to an offline user is queued (Q) and goes by itself when they connect", async () => {
    const id = await sendMail(s.path("alice"), "dave", "while you were out", "queued at the sender, encrypted at rest");
    const q = await waitFor("Q flag", async () => (await outbox(s.path("alice"))).find((m) => m.id === id && m.flags === "Q"));
    expect(q.to).toEqual(["dave"]);
    expect((await status(s.path("alice"))).queued).toBeGreaterThanOrEqual(1);
    await start("dave", 6);
    const m = await received(s.path("dave"), id);
    expect(m.subject).toBe("while you were out");
    await outboxFlag(s.path("alice"), id, "S");
  });

  test("a stopped client is dropped after the heartbeat timeout and, resumed, gets what was queued", async () => {
    const bob = w.clients.bob!;
    bob.proc.proc.kill("SIGSTOP");
    try {
      await waitFor("the relay to drop bob", async () => {
        const users = JSON.parse(await ok(["users", "--data", s.path("alice"), "--json"])) as string[];
        return !users.includes("bob");
      }, 20_000, 200);
      const id = await sendMail(s.path("alice"), "bob", "sent while you slept", "zzz");
      await waitFor("Q flag", async () => (await outbox(s.path("alice"))).find((m) => m.id === id && m.flags === "Q"));
      bob.proc.proc.kill("SIGCONT");
      await received(s.path("bob"), id);
      await outboxFlag(s.path("alice"), id, "S");
    } finally {
      bob.proc.proc.kill("SIGCONT");
    }
  }, 90_000);

  test("after a relay restart the clients reconnect by themselves and messages flow", async () => {
    const port = relay.port;
    await relay.stop();
    await waitFor("alice to notice", async () => !(await status(s.path("alice"))).connected);
    expect((await status(s.path("alice"))).error).toMatch(/relay/);
    relay = s.track(await startRelay({ dataDir: s.path("relay"), listen: [`[::]:${port}`], heartbeatTimeout: 3, extra: ["--offline-mail", "off"] }));
    await Promise.all(["alice", "bob", "carol"].map((u) => waitConnected(s.path(u), 30_000)));
    const id = await sendMail(s.path("carol"), "alice", "after the restart", "still here");
    await received(s.path("alice"), id);
    await outboxFlag(s.path("carol"), id, "S");
  }, 90_000);

  test("no plaintext crosses the wire or rests in the relay's data dir", async () => {
    const tap = new TapProxy("127.0.0.1", relay.port);
    try {
      // carol reconnects through the tap.
      await w.clients.carol!.stop();
      await start("carol", 4, tap.port);
      await waitConnected(s.path("carol"));
      const secret = `needle-${randomBytes(8).toString("hex")}`;
      const file = s.path(`${secret}-name.txt`);
      writeFileSync(file, `${secret}-content `.repeat(1000));
      const id = await sendMail(s.path("carol"), "alice", `${secret}-subject`, `${secret}-body`, [file]);
      await received(s.path("alice"), id);
      await outboxFlag(s.path("carol"), id, "S");
      const wire = tap.bytes();
      expect(wire.length).toBeGreaterThan(16_000); // the attachment did cross
      expect(wire.includes(secret)).toBe(false);
      // Nothing about it rests at the relay either.
      for (const f of readdirSync(relay.dataDir)) {
        const p = join(relay.dataDir, f);
        if (statSync(p).isFile()) expect(readFileSync(p).includes(secret)).toBe(false);
      }
      for (const line of relay.proc.lines) expect(line).not.toContain(secret);
    } finally {
      tap.stop();
    }
  });
});
