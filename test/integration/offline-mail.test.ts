// Mail that waits at the relay (SPEC.md §12) with real processes: a 20 MiB attachment to an
// offline recipient crosses a relay restart with both clients stopped at the right times;
// the relay's data dir holds no plaintext; retention expiry turns the sender's row F.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  Scratch,
  cli,
  inbox,
  ok,
  outboxFlag,
  passwordFile,
  register,
  sendMail,
  startClient,
  startRelay,
  waitConnected,
  waitFor,
  type ClientHandle,
  type RelayHandle,
} from "../support/harness.ts";

const s = new Scratch();
const pw: Record<string, string> = {};

/** Rows of the relay's mailbox.db (read while the relay runs: WAL readers do not block it). */
async function relayCount(relay: RelayHandle, sql: string, ...args: string[]): Promise<number> {
  const { Database } = await import("bun:sqlite");
  const db = new Database(join(relay.dataDir, "mailbox.db"), { readonly: true });
  try {
    return db.query<{ c: number }, string[]>(sql).get(...args)!.c;
  } finally {
    db.close();
  }
}

async function start(relay: RelayHandle, user: string): Promise<ClientHandle> {
  const c = s.track(await startClient({ user, server: `127.0.0.1:${relay.port}`, dataDir: s.path(user), passwordFile: pw[user]!, relayKey: relay.key }));
  await waitConnected(s.path(user));
  return c;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** The relay logged that user's client published its prekeys: wait for the mailbox to have them. */
async function prekeysPublished(relay: RelayHandle, user: string): Promise<void> {
  // The client publishes right after PREKEY_STATE; a GET_BUNDLE from the CLI is not available,
  // so the relay's mailbox.db is read: the stock of one-time prekeys is full.
  const { Database } = await import("bun:sqlite");
  await waitFor(`${user}'s prekeys at the relay`, async () => {
    const db = new Database(join(relay.dataDir, "mailbox.db"), { readonly: true });
    try {
      return db.query<{ c: number }, [string]>("SELECT count(*) AS c FROM one_time_prekeys WHERE user = ?").get(user)!.c >= 100;
    } finally {
      db.close();
    }
  }, 30_000, 100);
}

beforeAll(async () => {
  for (const u of ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hal", "ivy", "jon", "kim"]) pw[u] = passwordFile(s.path("pw"), u, `${u} offline horse ${randomBytes(4).toString("hex")}`);
}, 60_000);

afterAll(() => s.cleanup());

describe("mail that waits at the relay", () => {
  test("a 20 MiB attachment to offline bob crosses a relay restart with both clients stopped; alice sees W, then S", async () => {
    const data = s.path("relay1");
    let relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3 }));
    for (const u of ["alice", "bob"]) await register(data, u, pw[u]!);
    // bob connects once, leaving his prekeys at the relay, and goes.
    const bob1 = await start(relay, "bob");
    await prekeysPublished(relay, "bob");
    await bob1.stop();

    const alice1 = await start(relay, "alice");
    const secret = `needle-${randomBytes(8).toString("hex")}`;
    const file = s.path(`${secret}.bin`);
    const bytes = Buffer.concat([Buffer.from(`${secret} `.repeat(1000)), randomBytes(20 * 1024 * 1024)]);
    writeFileSync(file, bytes);
    const id = await sendMail(s.path("alice"), "bob", `${secret}-subject`, `${secret}-body`, [file]);
    await outboxFlag(s.path("alice"), id, "W");
    await alice1.stop();

    // Durable at the relay: restarted, it still holds it; and nothing there is readable.
    const port = relay.port;
    await relay.stop();
    let held = 0;
    for (const f of filesUnder(data)) {
      const content = readFileSync(f);
      expect(content.includes(secret)).toBe(false);
      if (f.includes(`${join(data, "mailbox")}/`)) held += statSync(f).size;
    }
    expect(held).toBeGreaterThan(bytes.length);
    relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3, listen: [`127.0.0.1:${port}`] }));

    await start(relay, "bob");
    const m = await waitFor("bob to receive it", async () => (await inbox(s.path("bob"))).find((x) => x.id === id), 120_000, 200);
    expect(m.from).toBe("alice");
    const dest = s.path("saved");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    const got = readFileSync(join(dest, `${secret}.bin`));
    expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
    // Once answered, the relay keeps no copy of it.
    await waitFor("the mailbox file to go", async () => filesUnder(join(data, "mailbox")).length === 0, 30_000, 100);

    await start(relay, "alice");
    await outboxFlag(s.path("alice"), id, "S");
  }, 240_000);

  test("mail not collected within the retention is deleted at the relay and the sender's row turns F", async () => {
    const data = s.path("relay2");
    const relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3, extra: ["--mailbox-retention-days", "0.00005"] })); // 4.3 s
    await register(data, "carol", pw.carol!);
    await register(data, "dave", pw.dave!);
    const carol = await start(relay, "carol");
    await prekeysPublished(relay, "carol");
    await carol.stop();
    await start(relay, "dave");
    const id = await sendMail(s.path("dave"), "carol", "never read", "expires");
    await outboxFlag(s.path("dave"), id, "W");
    await outboxFlag(s.path("dave"), id, "F");
    const shown = JSON.parse(await ok(["show", id, "--data", s.path("dave"), "--json"])) as { deliveries: { recipient: string; error: string | null }[] };
    expect(shown.deliveries[0]!.error).toBe("expired at the relay");
  }, 120_000);

  test("kill -9 of the relay right after it answered HELD loses nothing: bob gets it after the restart", async () => {
    const data = s.path("relay3");
    let relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3, env: { SMSG_TEST_CRASH_AT: "relay-held" } }));
    for (const u of ["erin", "frank"]) await register(data, u, pw[u]!);
    const frank1 = await start(relay, "frank");
    await prekeysPublished(relay, "frank");
    await frank1.stop();
    await start(relay, "erin");
    const id = await sendMail(s.path("erin"), "frank", "held, then the relay died", "still there?");
    // W shows only once erin's client read HELD; the relay killed itself right after sending it.
    await outboxFlag(s.path("erin"), id, "W");
    expect(await relay.proc.proc.exited).not.toBe(0);
    // Small mail waits inside mailbox.db, not in a file: still nothing readable there.
    for (const f of filesUnder(data)) expect(readFileSync(f).includes("held, then the relay died")).toBe(false);
    const port = relay.port;
    relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3, listen: [`127.0.0.1:${port}`] }));
    await start(relay, "frank");
    const m = await waitFor("frank to receive it", async () => (await inbox(s.path("frank"))).find((x) => x.id === id), 60_000, 200);
    expect(m.subject).toBe("held, then the relay died");
    await outboxFlag(s.path("erin"), id, "S");
  }, 180_000);

  test("over the recipient's quota the message stays Q with one sentence why; within it, W", async () => {
    const data = s.path("relay4");
    const relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3, extra: ["--mailbox-quota-mb", "0.05"] })); // 51,200 bytes
    for (const u of ["gina", "hal"]) await register(data, u, pw[u]!);
    const hal1 = await start(relay, "hal");
    await prekeysPublished(relay, "hal");
    await hal1.stop();
    await start(relay, "gina");
    const file = s.path("30k.bin");
    writeFileSync(file, randomBytes(30_000));
    const first = await sendMail(s.path("gina"), "hal", "fits", "30 kB", [file]);
    await outboxFlag(s.path("gina"), first, "W");
    const second = await sendMail(s.path("gina"), "hal", "does not fit", "another 30 kB", [file]);
    const shown = await waitFor("the second to be refused for the quota", async () => {
      const d = JSON.parse(await ok(["show", second, "--data", s.path("gina"), "--json"])) as { deliveries: { state: string; error: string | null }[] };
      return d.deliveries[0]!.error?.includes("mailbox at the relay is full") ? d : undefined;
    }, 60_000, 200);
    expect(shown.deliveries[0]!.state).toBe("queued");
    expect((await outboxFlag(s.path("gina"), second, "Q")).id).toBe(second);
    expect(await relayCount(relay, "SELECT count(*) AS c FROM waiting WHERE recipient = ?", "hal")).toBe(1);
  }, 120_000);

  test("several recipients half online: W while one copy waits at the relay, S once the offline one connects", async () => {
    const data = s.path("relay5");
    const relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3 }));
    for (const u of ["ivy", "jon", "kim"]) await register(data, u, pw[u]!);
    const kim1 = await start(relay, "kim");
    await prekeysPublished(relay, "kim");
    await kim1.stop();
    await start(relay, "ivy");
    await start(relay, "jon");
    const id = await sendMail(s.path("ivy"), "jon,kim", "to both", "one online, one not");
    await waitFor("jon to receive it", async () => (await inbox(s.path("jon"))).find((x) => x.id === id), 60_000, 200);
    await outboxFlag(s.path("ivy"), id, "W");
    await start(relay, "kim");
    await waitFor("kim to receive it", async () => (await inbox(s.path("kim"))).find((x) => x.id === id), 60_000, 200);
    await outboxFlag(s.path("ivy"), id, "S");
  }, 120_000);

  test("one-time prekeys: 10 an hour per taker, then the signed prekey; an emptied stock is topped up; each opened and stored once", async () => {
    const data = s.path("relay6");
    const relay = s.track(await startRelay({ dataDir: data, heartbeatTimeout: 3 }));
    for (const u of ["alice", "bob"]) await register(data, u, pw[u]!);
    const dirs = { alice: s.path("alice6"), bob: s.path("bob6") };
    const go = async (u: "alice" | "bob") => {
      const c = s.track(await startClient({ user: u, server: `127.0.0.1:${relay.port}`, dataDir: dirs[u], passwordFile: pw[u]!, relayKey: relay.key }));
      await waitConnected(dirs[u]);
      return c;
    };
    const bob1 = await go("bob");
    await prekeysPublished(relay, "bob");
    await bob1.stop();
    await go("alice");
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const out = await ok(["send", "--data", dirs.alice, "--to", "bob", "--subject", `n${i}`, "--body", "b"]);
      ids.push(out.match(/[0-9a-f]{32}/)![0]!);
    }
    for (const id of ids) await outboxFlag(dirs.alice, id, "W");
    // 10 one-time prekeys taken by alice this hour; the other two sealed to the signed prekey.
    expect(await relayCount(relay, "SELECT count(*) AS c FROM one_time_prekeys WHERE user = ?", "bob")).toBe(90);
    expect(await relayCount(relay, "SELECT count(*) AS c FROM prekey_takes WHERE owner = ?", "bob")).toBe(10);
    // The stock emptied (as by many takers): the next mail is sealed to the signed prekey.
    const { Database } = await import("bun:sqlite");
    const w = new Database(join(data, "mailbox.db"));
    w.exec("PRAGMA busy_timeout = 5000");
    w.query("DELETE FROM one_time_prekeys WHERE user = 'bob'").run();
    w.close();
    const last = (await ok(["send", "--data", dirs.alice, "--to", "bob", "--subject", "after the stock", "--body", "b"])).match(/[0-9a-f]{32}/)![0]!;
    await outboxFlag(dirs.alice, last, "W");
    await go("bob");
    for (const id of [...ids, last]) await waitFor(`bob to receive ${id}`, async () => (await inbox(dirs.bob)).find((x) => x.id === id), 60_000, 200);
    expect((await inbox(dirs.bob)).length).toBe(13);
    for (const id of [...ids, last]) await outboxFlag(dirs.alice, id, "S");
    // bob saw an empty stock and published a new generation of 100.
    await waitFor("bob's new stock", async () => (await relayCount(relay, "SELECT count(*) AS c FROM one_time_prekeys WHERE user = ?", "bob")) === 100, 30_000, 100);
    // The ten used one-time secrets are gone from bob's store; the rest of that generation is retired.
    const store = new Database(join(dirs.bob, "client.db"), { readonly: true });
    try {
      const rows = store.query<{ kind: string; retired: number | null }, []>("SELECT kind, retired FROM prekeys").all();
      expect(rows.filter((r) => r.kind === "one-time" && r.retired === null).length).toBe(100);
      expect(rows.filter((r) => r.kind === "one-time" && r.retired !== null).length).toBe(90);
    } finally {
      store.close();
    }
  }, 240_000);

  test("offline_mail takes on or off: anything else is one sentence and exit 1", async () => {
    const r = await cli(["relay", "--data", s.path("bad-flag"), "--listen", "127.0.0.1:0", "--offline-mail", "maybe"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('smsg: offline_mail must be on or off, not "maybe"');
  });
});
