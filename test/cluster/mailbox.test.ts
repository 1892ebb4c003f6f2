// The cluster's mailbox (SPEC.md §12.6) with real processes on one NATS server: a one-time
// prekey is handed out once across nodes, however the takes interleave; mail that alice
// left at node one for offline bob survives node one's SIGKILL, bob gets it from node two,
// and the receipt reaches alice on node one, restarted with its copy rebuilt; with a short
// retention, uncollected mail leaves the bucket and its sender sees F.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { Scratch, inbox, ok, outboxFlag, passwordFile, startClient, waitConnected, waitFor, type ClientHandle, type RelayHandle } from "../support/harness.ts";
import { NATS_PASSWORD, NATS_USER, startNats, type NatsServer } from "../support/nats.ts";
import { registerVia, startNode } from "./support.ts";
import { RawClient } from "../support/raw-client.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";
import { MAIL_BUCKET } from "../../src/server/cluster/mailbox-replica.ts";

const s = new Scratch();
let nats: NatsServer;
let nc: NatsConnection;
let kv: KV;
const nodes: Record<string, RelayHandle> = {};
const pw: Record<string, string> = {};

beforeAll(async () => {
  nats = s.track(await startNats({ dir: s.path("nats") }));
  nodes.one = s.track(await startNode({ root: s.root, name: "one", nats: [nats.url] }));
  nodes.two = s.track(await startNode({ root: s.root, name: "two", nats: [nats.url], keyFrom: nodes.one.dataDir }));
  for (const u of ["alice", "bob", "carol", "dave"]) {
    pw[u] = passwordFile(s.path("pw"), u, `${u} cluster mailbox ${randomBytes(4).toString("hex")}`);
    await registerVia(nodes.one.dataDir, u, pw[u]!);
  }
  nc = await connect({ servers: [nats.url], user: NATS_USER, pass: NATS_PASSWORD });
  kv = await new Kvm(nc).open(MAIL_BUCKET);
}, 60_000);

afterAll(async () => {
  await nc?.close();
  s.cleanup();
});

async function client(user: string, node: RelayHandle): Promise<ClientHandle> {
  const c = s.track(await startClient({ user, server: `127.0.0.1:${node.port}`, dataDir: s.path(user), passwordFile: pw[user]!, relayKey: nodes.one!.key }));
  await waitConnected(s.path(user));
  return c;
}

/** One-time prekeys of user in the cluster's bucket. */
async function stock(user: string): Promise<number> {
  const e = await kv.get(`o.${user}`);
  return e && e.operation === "PUT" ? (e.json<string[]>()).length : 0;
}

describe("the cluster's mailbox", () => {
  test("a one-time prekey is handed out once across nodes, with takes from both at once", async () => {
    const bob = await client("bob", nodes.two!);
    await waitFor("bob's prekeys in the cluster's bucket", async () => (await stock("bob")) >= 100, 30_000, 100);
    await bob.stop();
    const before = await stock("bob");
    // carol asks through node one, dave through node two, 8 each, all at once.
    const takers = await Promise.all(
      (["carol", "dave"] as const).map(async (u, i) => {
        const keys = await deriveUserKeys(u, readFileSync(pw[u]!, "utf8").trim());
        const node = i === 0 ? nodes.one! : nodes.two!;
        const { client, status } = await RawClient.login("127.0.0.1", node.port, u, keys.login);
        expect(status).toBe("ok");
        client.publish(u, keys.identity.seed, keys.identity.publicKey);
        return client;
      }),
    );
    for (let req = 1; req <= 8; req++) for (const c of takers) c.send({ t: "getBundle", req, user: "bob" });
    const got: string[] = [];
    for (const c of takers)
      for (let req = 1; req <= 8; req++) {
        const m = await c.next((x) => x.t === "bundle" && x.req === req, 20_000);
        if (m.t !== "bundle") throw new Error("not a bundle");
        expect(m.status).toBe("ok");
        if (m.oneTime) got.push(Buffer.from(m.oneTime.sessionPub).toString("hex"));
      }
    expect(got.length).toBe(16);
    expect(new Set(got).size).toBe(16);
    expect(await stock("bob")).toBe(before - 16);
    for (const c of takers) c.raw.framed.close("done");
  }, 120_000);

  test("alice's mail to offline bob, held by node one, reaches bob on node two after node one's SIGKILL; alice, back on node one restarted, sees S at once", async () => {
    const bob0 = await client("bob", nodes.two!);
    await waitFor("bob's prekeys in the cluster's bucket", async () => (await stock("bob")) > 0, 30_000, 100);
    await bob0.stop();
    const alice1 = await client("alice", nodes.one!);
    const secret = `needle-${randomBytes(8).toString("hex")}`;
    const file = s.path(`${secret}.bin`);
    // Several parts in the bucket: the mail is more than one chunk.
    const bytes = Buffer.concat([Buffer.from(`${secret} `.repeat(1000)), randomBytes(3 * 1024 * 1024)]);
    writeFileSync(file, bytes);
    const out = await ok(["send", "--data", s.path("alice"), "--to", "bob", "--subject", `${secret}-subject`, "--body", "waits in the cluster", "--attach", file]);
    const id = out.match(/[0-9a-f]{32}/)![0]!;
    await outboxFlag(s.path("alice"), id, "W");
    nodes.one!.proc.proc.kill("SIGKILL");
    await nodes.one!.proc.proc.exited;
    await alice1.stop();
    // Nothing readable in the bucket: its stream holds sealed bytes only.
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    for (const k of keys) {
      const e = await kv.get(k);
      if (e?.operation === "PUT") expect(Buffer.from(e.value).includes(secret)).toBe(false);
    }

    // Node one comes back with its copy rebuilt from the bucket; alice waits there, online.
    nodes.one = s.track(await startNode({ root: s.root, name: "one", nats: [nats.url] }));
    await client("alice", nodes.one);
    await client("bob", nodes.two!);
    const m = await waitFor("bob to receive it", async () => (await inbox(s.path("bob"))).find((x) => x.id === id), 60_000, 200);
    expect(m.from).toBe("alice");
    const dest = s.path("saved");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    const saved = readFileSync(join(dest, `${secret}.bin`));
    expect(createHash("sha256").update(saved).digest("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
    // Answered: its record and parts are gone from the bucket.
    await waitFor("the mail's keys to go", async () => {
      for await (const k of await kv.keys()) if (k.startsWith("w.") || k.startsWith("c.")) return false;
      return true;
    }, 30_000, 200);
    // The receipt taken by node two reaches alice on node one without her reconnecting.
    await outboxFlag(s.path("alice"), id, "S");
  }, 180_000);

  test("with a short retention, mail nobody collects expires in the bucket (whichever node sweeps first) and its sender sees F", async () => {
    const root = s.path("short");
    const n2 = s.track(await startNats({ dir: join(root, "nats") }));
    const extra = ["--mailbox-retention-days", "0.00005"]; // 4.3 s
    const a = s.track(await startNode({ root, name: "a", nats: [n2.url], extra }));
    const b = s.track(await startNode({ root, name: "b", nats: [n2.url], keyFrom: a.dataDir, extra }));
    for (const u of ["carol", "dave"]) await registerVia(a.dataDir, u, pw[u]!);
    const go = async (u: string, node: RelayHandle): Promise<ClientHandle> => {
      const c = s.track(await startClient({ user: u, server: `127.0.0.1:${node.port}`, dataDir: join(root, u), passwordFile: pw[u]!, relayKey: a.key }));
      await waitConnected(join(root, u));
      return c;
    };
    const nc2 = await connect({ servers: [n2.url], user: NATS_USER, pass: NATS_PASSWORD });
    try {
      const kv2 = await new Kvm(nc2).open(MAIL_BUCKET);
      const carol = await go("carol", b);
      await waitFor("carol's prekeys", async () => (await kv2.get("o.carol"))?.operation === "PUT", 30_000, 100);
      await carol.stop();
      await go("dave", a);
      const id = (await ok(["send", "--data", join(root, "dave"), "--to", "carol", "--subject", "never read", "--body", "expires"])).match(/[0-9a-f]{32}/)![0]!;
      await outboxFlag(join(root, "dave"), id, "W");
      await outboxFlag(join(root, "dave"), id, "F");
      const shown = JSON.parse(await ok(["show", id, "--data", join(root, "dave"), "--json"])) as { deliveries: { error: string | null }[] };
      expect(shown.deliveries[0]!.error).toBe("expired at the relay");
      for await (const k of await kv2.keys()) expect(k.startsWith("w.") || k.startsWith("c.")).toBe(false);
    } finally {
      await nc2.close();
    }
  }, 120_000);
});
