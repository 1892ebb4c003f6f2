// Nodes failing under their clients: clients given every node (`--server A,B`)
// show the node they are on; a node hung by SIGSTOP loses its clients to the other within
// 10 s and its users leave the other's presence within 10 s; a node killed with SIGKILL in
// the middle of a 100 MiB transfer: the sender moves, resends, and the message is stored once.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, inbox, ok, outbox, passwordFile, startClient, status, waitConnected, waitFor, type ClientHandle, type RelayHandle } from "../support/harness.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { registerVia, sendStreaming, startNode } from "./support.ts";

const s = new Scratch();
let nats: NatsServer;
const nodes: Record<string, RelayHandle> = {};
const pw: Record<string, string> = {};

const addr = (n: RelayHandle): string => `127.0.0.1:${n.port}`;

beforeAll(async () => {
  nats = s.track(await startNats({ dir: s.path("nats") }));
  nodes.a = s.track(await startNode({ root: s.root, name: "a", nats: [nats.url], heartbeatTimeout: 3 }));
  nodes.b = s.track(await startNode({ root: s.root, name: "b", nats: [nats.url], keyFrom: nodes.a.dataDir, heartbeatTimeout: 3 }));
  for (const u of ["alice", "bob", "carol", "dave"]) {
    pw[u] = passwordFile(s.path("pw"), u, `${u} failover ${randomBytes(4).toString("hex")}`);
    await registerVia(nodes.a.dataDir, u, pw[u]!);
  }
});

afterAll(() => s.cleanup());

async function client(user: string, servers: RelayHandle[], dir = user): Promise<ClientHandle> {
  return s.track(await startClient({ user, server: servers.map(addr).join(","), dataDir: s.path(dir), passwordFile: pw[user]!, relayKey: nodes.a!.key }));
}

async function users(dir: string): Promise<string[]> {
  return JSON.parse(await ok(["users", "--data", s.path(dir), "--json"])) as string[];
}

describe("clients given every node", () => {
  test("status's relay is the node connected to now, one of the list", async () => {
    await client("alice", [nodes.a!, nodes.b!]);
    const st = await waitConnected(s.path("alice"));
    expect([addr(nodes.a!), addr(nodes.b!)]).toContain(st.relay);
  });

  test("a node hung (SIGSTOP): its clients are on the other within 10 s, its users gone from the other's presence within 10 s", async () => {
    // alice is on some node X: stop X. carol stays on the other node Y; dave only knows X.
    const on = (await status(s.path("alice"))).relay;
    const [x, y] = on === addr(nodes.a!) ? [nodes.a!, nodes.b!] : [nodes.b!, nodes.a!];
    await client("carol", [y]);
    await client("dave", [x]);
    await waitConnected(s.path("carol"));
    await waitConnected(s.path("dave"));
    await waitFor("carol to see dave (on the other node)", async () => (await users("carol")).includes("dave"));
    x.proc.proc.kill("SIGSTOP");
    const t0 = Date.now();
    try {
      await waitFor("alice on the other node", async () => {
        const st = await status(s.path("alice"));
        return st.connected && st.relay === addr(y);
      }, 10_000, 100);
      await waitFor("dave gone from carol's presence", async () => !(await users("carol")).includes("dave"), 10_000 - (Date.now() - t0), 100);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(await users("carol")).toContain("alice");
    } finally {
      x.proc.proc.kill("SIGCONT");
    }
    // The node comes back by itself: dave reconnects to it, and carol sees him again.
    await waitFor("carol to see dave again", async () => (await users("carol")).includes("dave"), 20_000, 200);
  }, 60_000);

  test("a node killed (SIGKILL) mid-transfer: the sender moves and resends, the message is stored once", async () => {
    // bob on one node only, alice (list) on the other: kill alice's node while her message streams to bob.
    const on = (await waitConnected(s.path("alice"))).relay;
    const [x, y] = on === addr(nodes.a!) ? [nodes.a!, nodes.b!] : [nodes.b!, nodes.a!];
    await client("bob", [y]);
    await waitConnected(s.path("bob"));
    await waitFor("alice to see bob", async () => (await users("alice")).includes("bob"));
    const { id, data } = await sendStreaming(s.path("alice"), s.path("bob"), "bob", s.path("huge.bin"), "through a dying node");
    x.proc.proc.kill("SIGKILL");
    await waitFor("delivered after the move", async () => (await outbox(s.path("alice"))).find((m) => m.id === id && m.flags === "S"), 120_000, 200);
    expect((await status(s.path("alice"))).relay).toBe(addr(y));
    const got = (await inbox(s.path("bob"))).filter((m) => m.id === id);
    expect(got).toHaveLength(1);
    const dest = s.path("saved");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    expect(createHash("sha256").update(readFileSync(join(dest, "huge.bin"))).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  }, 180_000);
});
