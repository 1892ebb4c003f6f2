// A transfer's window at the relay (SPEC.md §6.3 "The window", §6.5): the recipient asks for
// credit in WINDOW's limit, the relay forwards what its budgets allow and holds the sender to
// exactly that. A relay in this process, real TCP on loopback, raw protocol clients.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { startRelay, type Relay } from "../../src/server/relay.ts";
import { streamLog } from "../../src/server/log.ts";
import { CHUNK_BYTES } from "../../src/server/window-budget.ts";
import { WINDOW_CHUNKS, type MessageOf } from "../../src/protocol/messages.ts";
import { tempDir, waitFor } from "../support/harness.ts";
import { addRelayUsers, loginPublished, type RelayUser } from "../support/relay-users.ts";

const PER_TRANSFER_CHUNKS = 40;
const TOTAL_CHUNKS = 60;
const dir = tempDir("smsg-window-");
let relay: Relay;
let users: Map<string, RelayUser>;
const NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"];

beforeAll(async () => {
  users = addRelayUsers(dir, NAMES);
  relay = await startRelay({
    listen: [{ host: "127.0.0.1", port: 0 }],
    dataDir: dir,
    log: streamLog(() => {}),
    options: { maxWindowPerTransfer: PER_TRANSFER_CHUNKS * CHUNK_BYTES, maxWindowTotal: TOTAL_CHUNKS * CHUNK_BYTES },
  });
});
afterAll(async () => {
  await relay.stop(0);
  rmSync(dir, { recursive: true, force: true });
});

const login = (user: string) => loginPublished(relay, users, user);

const data = new Uint8Array(CHUNK_BYTES);
const CHUNKS = 200;

/** A transfer of CHUNKS full chunks from `from` to `to`, its DELIVER seen by `to`. */
async function transfer(from: string, to: string) {
  const a = await login(from);
  const b = await login(to);
  const id = new Uint8Array(randomBytes(16));
  a.c.send({ t: "send", id, to, size: CHUNKS * CHUNK_BYTES, senderKey: a.key.key, recipientSessionPub: b.key.key.sessionPub, enc: new Uint8Array(32), kemCiphertext: new Uint8Array(1088) });
  await b.c.next((m) => m.t === "deliver");
  const chunks = (from: number, to: number) => {
    for (let seq = from; seq < to; seq++) a.c.send({ t: "chunk", id, seq, last: false, data });
  };
  const received = (n: number) => b.c.next((m) => m.t === "chunk" && m.seq === n - 1);
  const windowAtSender = async () => (await a.c.next((m) => m.t === "window")) as MessageOf<"window">;
  return { a, b, id, chunks, received, windowAtSender };
}

describe("the window at the relay", () => {
  test("a recipient's larger limit is forwarded, the sender may use all of it, and one chunk more is ERROR window", async () => {
    const t = await transfer("alice", "bob");
    t.chunks(0, WINDOW_CHUNKS);
    await t.received(WINDOW_CHUNKS);
    t.b.c.send({ t: "window", id: t.id, seq: 8, limit: 8 + 30 });
    expect(await t.windowAtSender()).toMatchObject({ seq: 8, limit: 38 });
    t.chunks(WINDOW_CHUNKS, 38);
    await t.received(38);
    t.chunks(38, 39);
    expect(await t.a.c.next((m) => m.t === "error")).toMatchObject({ code: "window" });
    await t.a.c.raw.waitClosed();
    t.b.c.raw.framed.close();
  });

  test("the relay forwards no more than its per-transfer budget, and never less than it forwarded before", async () => {
    const t = await transfer("carol", "dave");
    t.chunks(0, WINDOW_CHUNKS);
    await t.received(WINDOW_CHUNKS);
    t.b.c.send({ t: "window", id: t.id, seq: 16, limit: 1000 });
    expect(await t.windowAtSender()).toMatchObject({ seq: 16, limit: 16 + WINDOW_CHUNKS + PER_TRANSFER_CHUNKS });
    t.b.c.send({ t: "window", id: t.id, seq: 16, limit: 32 }); // asks for less: what was granted stays
    expect(await t.windowAtSender()).toMatchObject({ seq: 16, limit: 16 + WINDOW_CHUNKS + PER_TRANSFER_CHUNKS });
    t.a.c.raw.framed.close();
    t.b.c.raw.framed.close();
    await waitFor("the credit to be given back", () => relay.core.windows.used === 0 || undefined);
  });

  test("credit over all transfers stays within the total budget; the base window is always granted", async () => {
    const t1 = await transfer("alice", "bob");
    const t2 = await transfer("carol", "dave");
    t1.b.c.send({ t: "window", id: t1.id, seq: 0, limit: 1000 });
    expect(await t1.windowAtSender()).toMatchObject({ limit: WINDOW_CHUNKS + PER_TRANSFER_CHUNKS });
    t2.b.c.send({ t: "window", id: t2.id, seq: 0, limit: 1000 });
    expect(await t2.windowAtSender()).toMatchObject({ limit: WINDOW_CHUNKS + (TOTAL_CHUNKS - PER_TRANSFER_CHUNKS) });
    const t3 = await transfer("erin", "frank");
    t3.b.c.send({ t: "window", id: t3.id, seq: 0, limit: 1000 });
    expect(await t3.windowAtSender()).toMatchObject({ limit: WINDOW_CHUNKS });
    expect(relay.core.windows.used).toBe(TOTAL_CHUNKS);
    for (const t of [t1, t2, t3]) {
      t.a.c.raw.framed.close();
      t.b.c.raw.framed.close();
    }
    await waitFor("the credit to be given back", () => relay.core.windows.used === 0 || undefined);
  });

  test("a limit below seq + 16 is malformed: the recipient is closed", async () => {
    const t = await transfer("erin", "frank");
    t.chunks(0, WINDOW_CHUNKS);
    await t.received(WINDOW_CHUNKS);
    t.b.c.send({ t: "window", id: t.id, seq: 8, limit: 8 + WINDOW_CHUNKS - 1 });
    expect(await t.b.c.next((m) => m.t === "error")).toMatchObject({ code: "malformed" });
    await t.b.c.raw.waitClosed();
    t.a.c.raw.framed.close();
  });
});
