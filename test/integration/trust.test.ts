// Identity pinning and crash safety (SPEC.md §5.1, §7): a changed identity key holds
// messages until accepted; a process killed mid-transfer neither loses nor duplicates.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { spawn } from "bun";
import { deriveUserKeys, safetyNumber } from "../../src/protocol/keys.ts";
import type { ContactView } from "../../src/views/contact-view.ts";
import { join } from "node:path";
import {
  MAIN,
  Scratch,
  inbox,
  ok,
  outbox,
  outboxFlag,
  passwordFile,
  register,
  sendFrom,
  waitFor,
} from "../support/harness.ts";
import { startWorld, type World } from "../support/world.ts";
import { ApiClient } from "../../src/client/api-client.ts";

/** `smsg accept USER` in a pty (script(1)), answering its question with `answer`. */
async function acceptOnTerminal(dataDir: string, user: string, answer: string): Promise<{ code: number; out: string }> {
  const p = spawn(["script", "-qfec", `exec ${process.execPath} ${MAIN} accept ${user} --data ${dataDir}`, "/dev/null"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, SHELL: "/bin/sh", SMSG_PASSWORD: "" },
  });
  let out = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of p.stdout) out += decoder.decode(chunk, { stream: true });
  })();
  await waitFor("the question", () => out.includes("[y/N]") || undefined);
  p.stdin.write(`${answer}\r`);
  await p.stdin.flush();
  const code = await p.exited;
  await reading;
  return { code, out };
}

const s = new Scratch();
let w: World;

beforeAll(async () => {
  w = await startWorld(s, { users: ["alice", "bob"], relay: { heartbeatTimeout: 3 } });
}, 120_000);
afterAll(() => s.cleanup());

describe("identity keys", () => {
  test("a changed identity holds messages (H) until accepted, then they go", async () => {
    const first = await sendFrom(s.path("alice"), "bob", "pins bob");
    await outboxFlag(s.path("alice"), first, "S");
    const pinned = (JSON.parse(await ok(["contacts", "--data", s.path("alice"), "--json"])) as { user: string; identity: string }[])
      .find((c) => c.user === "bob")!.identity;

    // bob starts over with a new password: a new identity key (the operator re-registers him).
    await w.clients.bob!.stop();
    const newPw = passwordFile(s.path("pw2"), "bob", "bob's brand new password");
    await ok(["ctrl", "--data", w.relay.dataDir, "users", "remove", "bob"]);
    await register(w.relay.dataDir, "bob", newPw);
    await w.start("bob", { dataDir: s.path("bob-new"), passwordFile: newPw });

    const held = await sendFrom(s.path("alice"), "bob", "after the change");
    await outboxFlag(s.path("alice"), held, "H");
    const contacts = JSON.parse(await ok(["contacts", "--data", s.path("alice"), "--json"])) as ContactView[];
    const newBob = (await deriveUserKeys("bob", "bob's brand new password")).identity.publicKey;
    const aliceKey = (await deriveUserKeys("alice", readFileSync(w.pw.alice!, "utf8").trim())).identity.publicKey;
    expect(contacts.find((c) => c.user === "bob")).toEqual({
      user: "bob",
      identity: pinned,
      safetyNumber: safetyNumber("alice", aliceKey, "bob", Buffer.from(pinned, "hex")),
      changed: true,
      newIdentity: Buffer.from(newBob).toString("hex"),
      newSafetyNumber: safetyNumber("alice", aliceKey, "bob", newBob),
      passwordChangedAt: null,
    });
    const shown = JSON.parse(await ok(["show", held, "--data", s.path("alice"), "--json"])) as { deliveries: { state: string; error: string }[] };
    expect(shown.deliveries[0]).toMatchObject({ state: "held" });
    expect(shown.deliveries[0]!.error).toContain("identity key changed");
    expect((await inbox(s.path("bob-new"))).some((m) => m.id === held)).toBe(false);

    // The new bob's own message to alice is refused by alice's client until she accepts.
    const fromNewBob = await sendFrom(s.path("bob-new"), "alice", "hello from new bob");
    await waitFor("the refusal", async () => {
      const m = (await outbox(s.path("bob-new"))).find((x) => x.id === fromNewBob);
      return m?.flags === "Q" || undefined;
    });
    expect((await inbox(s.path("alice"))).some((m) => m.id === fromNewBob)).toBe(false);

    // On a terminal, accept shows the new safety number and asks: anything but y keeps the hold.
    const said = (answer: string) => acceptOnTerminal(s.path("alice"), "bob", answer);
    const no = await said("n");
    expect(no.out).toContain(`new safety number: ${safetyNumber("alice", aliceKey, "bob", newBob)}`);
    expect(no.out).toContain("Accept this key [y/N]");
    expect(no.out).toContain("smsg: not accepted");
    expect(no.code).toBe(1);
    expect(await outboxFlag(s.path("alice"), held, "H")).toBeDefined();
    const yes = await said("y");
    expect(yes.out).toContain("accepted the new identity of bob");
    expect(yes.code).toBe(0);
    await outboxFlag(s.path("alice"), held, "S");
    expect((await inbox(s.path("bob-new"))).some((m) => m.id === held)).toBe(true);
    const after = JSON.parse(await ok(["contacts", "--data", s.path("alice"), "--json"])) as { user: string; identity: string; changed: boolean }[];
    expect(after.find((c) => c.user === "bob")!.changed).toBe(false);
    expect(after.find((c) => c.user === "bob")!.identity).not.toBe(pinned);
  }, 120_000);
});

describe("crash safety", () => {
  test("killing the recipient and then the sender mid-transfer loses and duplicates nothing", async () => {
    // The relay now knows bob by his new key: use the new data dir.
    await w.clients.bob!.stop();
    const bobDir = s.path("bob-new");
    const bobPw = join(s.path("pw2"), "bob.password");
    await w.start("bob", { dataDir: bobDir, passwordFile: bobPw });

    const file = s.path("crash.bin");
    const data = randomBytes(96 * 1024 * 1024);
    writeFileSync(file, data);
    // Bob writes the incoming attachment into its own file as it streams in: note the files
    // there before the send, which can start the transfer before it returns.
    const files = join(bobDir, "client.db-attachments");
    const before = new Set(readdirSync(files));
    const growing = () => readdirSync(files).filter((f) => !before.has(f));
    // Upload first, then send: the message is stored before a byte travels, so that the
    // kills below fall on a stored message mid-transfer. (`smsg send --attach` sends while it
    // uploads and would have all but the last chunk at bob by the time it returns.)
    const api = new ApiClient(s.path("alice"));
    const { att } = await api.request<{ att: string }>("POST", "/api/attachments", Bun.file(file), "application/octet-stream");
    const { id } = await api.post<{ id: string }>("/api/send", { to: ["bob"], subject: "survives kill -9", body: "an attachment across two kills", attachments: [{ att, name: "crash.bin" }] });
    const seen = await waitFor(
      "bob to be mid-transfer",
      () => growing().map((f) => statSync(join(files, f)).size).find((n) => n > 4 * 1024 * 1024),
      60_000,
      5,
    );
    expect(seen).toBeLessThan(data.length); // caught while it was still coming
    w.clients.bob!.proc.proc.kill("SIGKILL");
    await w.clients.bob!.proc.proc.exited;
    w.clients.alice!.proc.proc.kill("SIGKILL");
    await w.clients.alice!.proc.proc.exited;

    await w.start("bob", { dataDir: bobDir, passwordFile: bobPw });
    await w.start("alice");
    await outboxFlag(s.path("alice"), id, "S");
    const copies = (await inbox(bobDir)).filter((m) => m.id === id);
    expect(copies).toHaveLength(1);
    const dest = s.path("saved-crash");
    await ok(["show", id, "--data", bobDir, "--save-attachments", dest]);
    const got = readFileSync(join(dest, "crash.bin"));
    expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    expect(growing()).toHaveLength(1); // the half-received copy's file went with the restart
  }, 180_000);
});
