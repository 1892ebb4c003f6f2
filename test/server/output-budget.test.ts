// The relay's budgets for unread output (SPEC.md §6.5), on a relay started in this process so
// that what it owes each session can be read: real TCP on loopback, a real SQLite directory,
// raw protocol clients that stop reading.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { startRelay, type Relay } from "../../src/server/relay.ts";
import { streamLog } from "../../src/server/log.ts";
import { OUTPUT_LOW_WATER } from "../../src/server/output-budget.ts";
import { MAX_REQUESTS_UNPUBLISHED, type Session } from "../../src/server/session.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { MLKEM768_CT_LENGTH } from "../../src/protocol/mlkem.ts";
import { RawClient } from "../support/raw-client.ts";
import { tempDir, waitFor } from "../support/harness.ts";
import { addRelayUsers, loginRelayUser, publishRoutable, type RelayUser } from "../support/relay-users.ts";

const PER_SESSION = 128 * 1024;
const dir = tempDir("smsg-output-");
const lines: string[] = [];
let relay: Relay;
let users: Map<string, RelayUser>;

beforeAll(async () => {
  users = addRelayUsers(dir, ["alice", "bob", "carol", "mallory", "nina"]);
  relay = await startRelay({
    listen: [{ host: "127.0.0.1", port: 0 }],
    dataDir: dir,
    log: streamLog((l) => lines.push(l)),
    options: { heartbeatTimeout: 3, handshakeTimeout: 2, maxOutputPerSession: PER_SESSION, maxOutputPerUser: 4 * PER_SESSION },
  });
});
afterAll(async () => {
  await relay.stop(0);
  rmSync(dir, { recursive: true, force: true });
});

async function login(user: string, publish = true): Promise<{ c: RawClient; key: ReturnType<RawClient["publish"]> | undefined; s: Session }> {
  const c = await loginRelayUser(relay, users, user);
  const key = publish ? await publishRoutable(relay, users, user, c) : undefined;
  const s = [...relay.core.sessions].filter((x) => x.user === user).at(-1)!;
  return { c, key, s };
}

const getKeys = (n: number, user: string): Message[] => Array.from({ length: n }, (_, i) => ({ t: "getKey", req: i, user }) as Message);

describe("output budgets", () => {
  test("a session that asks without reading is not read from past its share, then closed with ERROR limit; what it owed is given back", async () => {
    await login("bob");
    const { c, s } = await login("mallory");
    c.raw.framed.socket.pause();
    const batch = getKeys(5_000, "bob"); // about 730 KB of answers per record
    let most = 0;
    const deadline = Date.now() + 5_000;
    // Keep offering records for a while: a relay that stopped reading takes none of them.
    while (Date.now() < deadline && !s.paused) {
      if (c.raw.framed.queuedBytes < 256 * 1024) c.sendBatch(batch);
      most = Math.max(most, s.owed);
      await Bun.sleep(2);
    }
    expect(s.paused).toBe(true);
    for (let i = 0; i < 20; i++) {
      if (c.raw.framed.queuedBytes < 1024 * 1024) c.sendBatch(batch);
      most = Math.max(most, s.owed);
      await Bun.sleep(20);
    }
    // Over its share by at most one answer (146 bytes) beyond where it stopped.
    expect(most).toBeLessThanOrEqual(PER_SESSION + 1024);
    expect(relay.core.output.total).toBeLessThanOrEqual(PER_SESSION + 1024 + 64 * 1024);
    // Paused all along: it must not be taken for silent, and after the heartbeat timeout (3 s)
    // of owing that much it is told ERROR limit and cut.
    await waitFor("mallory's session to be closed", () => s.state === "closed" || undefined, 10_000);
    expect(lines.some((l) => / warn output-limit user=mallory /.test(l))).toBe(true);
    expect(lines.some((l) => / warn heartbeat-timeout user=mallory /.test(l))).toBe(false);
    await waitFor("the relay to forget mallory", () => !relay.core.sessions.has(s) || undefined, 10_000);
    c.raw.framed.close();
  }, 30_000);

  test(`a session that never publishes may ask ${MAX_REQUESTS_UNPUBLISHED} times, then ERROR limit`, async () => {
    const { c } = await login("nina", false);
    c.sendBatch(getKeys(MAX_REQUESTS_UNPUBLISHED, "bob"));
    for (let i = 0; i < MAX_REQUESTS_UNPUBLISHED; i++) await c.next((m) => m.t === "key");
    c.send({ t: "who", req: 99 });
    const err = await c.next((m) => m.t === "error");
    expect(err).toMatchObject({ t: "error", code: "limit" });
    await c.raw.waitClosed();
    expect(c.inbox.some((m) => m.t === "whoReply")).toBe(false);
  });

  test("a recipient that stops reading holds back its senders, not the relay's memory; nothing is lost when it reads", async () => {
    const bob = await login("bob");
    bob.c.raw.framed.socket.pause();
    const senders = await Promise.all(["alice", "carol"].map((u) => login(u)));
    const chunk = new Uint8Array(61_456);
    const CHUNKS = 16; // one full window each: no WINDOW needed
    let sent = 0;
    for (const { c, key } of senders) {
      for (let t = 0; t < 8; t++) {
        const id = new Uint8Array(randomBytes(16));
        c.send({ t: "send", id, to: "bob", size: CHUNKS * chunk.length, senderKey: key!.key, recipientSessionPub: bob.key!.key.sessionPub, enc: new Uint8Array(32), kemCiphertext: new Uint8Array(MLKEM768_CT_LENGTH) });
        for (let seq = 0; seq < CHUNKS; seq++) c.send({ t: "chunk", id, seq, last: seq === CHUNKS - 1, data: chunk });
        sent += CHUNKS;
      }
    }
    // 16 transfers x 16 chunks, about 15.7 MB, for a recipient that reads nothing: the kernel
    // takes a few MB, then the relay stops reading the senders.
    let most = 0;
    await waitFor("both senders to be held back", () => {
      most = Math.max(most, bob.s.owed);
      return senders.every((x) => x.s.paused) || undefined;
    }, 20_000, 5);
    const until = Date.now() + 1_000;
    while (Date.now() < until) {
      most = Math.max(most, bob.s.owed);
      await Bun.sleep(5);
    }
    // Its share, plus the last record of each sender before it paused.
    expect(most).toBeLessThanOrEqual(PER_SESSION + 2 * (OUTPUT_LOW_WATER + 1024));
    bob.c.raw.framed.socket.resume();
    let got = 0;
    while (got < sent) {
      await bob.c.next((m) => m.t === "chunk", 30_000);
      got++;
    }
    expect(got).toBe(sent);
    for (const x of [...senders, bob]) x.c.raw.framed.close();
    await waitFor("the relay to owe nothing to anyone", () => (relay.core.sessions.size === 0 && relay.core.output.total === 0 && relay.core.output.users === 0) || undefined, 10_000);
  }, 60_000);
});
