// A relay cluster on one NATS server with JetStream and authentication: refusals
// (wrong NATS credentials, no NATS, another relay key), one directory through any node's
// ctrl, presence and mail with a 50 MiB attachment between users on different nodes, an
// account disabled through one node ending the session on another within a second, and
// failed logins and refused password changes counted across nodes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, cli, inbox, ok, outbox, passwordFile, startClient, status, waitConnected, waitFor, type ClientHandle, type RelayHandle } from "../support/harness.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { natsFlags, registerVia, startNode } from "./support.ts";
import { RawClient } from "../support/raw-client.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";
import { signIdentityChange } from "../../src/protocol/identity-change.ts";
import type { Message } from "../../src/protocol/messages.ts";

const s = new Scratch();
let nats: NatsServer;
let n1: RelayHandle;
let n2: RelayHandle;
const pw: Record<string, string> = {};
const clients: Record<string, ClientHandle> = {};

beforeAll(async () => {
  nats = s.track(await startNats({ dir: s.path("nats") }));
  // Failed logins refill slowly, so that a limit reached on one node still holds on the other.
  const extra = ["--failed-logins-per-minute", "1"];
  n1 = s.track(await startNode({ root: s.root, name: "one", nats: [nats.url], extra }));
  n2 = s.track(await startNode({ root: s.root, name: "two", nats: [nats.url], keyFrom: n1.dataDir, extra }));
  for (const u of ["alice", "bob.smith", "carol"]) pw[u] = passwordFile(s.path("pw"), u, `${u} battery staple ${randomBytes(4).toString("hex")}`);
});

afterAll(() => s.cleanup());

async function client(user: string, node: RelayHandle): Promise<ClientHandle> {
  const c = s.track(await startClient({ user, server: `127.0.0.1:${node.port}`, dataDir: s.path(`c-${user}`), passwordFile: pw[user]!, relayKey: n1.key }));
  clients[user] = c;
  return c;
}

// First: the failed-login test below leaves 127.0.0.1 limited on both nodes for a while.
describe("refused password changes", () => {
  test("count on every node: the per-user budget spent on node one is spent on node two", async () => {
    const pwDan = passwordFile(s.path("pw"), "dan", `dan battery staple ${randomBytes(4).toString("hex")}`);
    await registerVia(n1.dataDir, "dan", pwDan);
    const dan = await deriveUserKeys("dan", readFileSync(pwDan, "utf8").trim());
    const next = await deriveUserKeys("dan", "dan's next password");
    const valid = signIdentityChange(dan.identity.seed, "dan", dan.identity.publicKey, next.identity.publicKey, Date.now());
    const forged = { ...valid, sig: new Uint8Array(randomBytes(64)) };
    const on = async (node: RelayHandle): Promise<RawClient> => {
      const r = await waitFor("dan to log in", async () => {
        const x = await RawClient.login("127.0.0.1", node.port, "dan", dan.login);
        return x.status === "ok" ? x : undefined;
      }, 10_000, 200);
      r.client.publish("dan", dan.identity.seed, dan.identity.publicKey);
      return r.client;
    };
    let req = 0;
    const change = async (c: RawClient, statement: typeof valid): Promise<string> => {
      const id = ++req;
      c.send({ t: "changeCode", req: id, code: next.login.publicKey, change: statement });
      const m = await c.next((x: Message) => x.t === "changeResult" && x.req === id);
      return m.t === "changeResult" ? m.status : "?";
    };
    const one = await on(n1);
    for (let i = 0; i < 10; i++) expect(await change(one, forged)).toBe("refused");
    expect(await change(one, valid)).toBe("rate-limited");
    // Node two, on its own, would refuse 10 more before limiting; it heard of node one's.
    const two = await on(n2);
    let refusedOnTwo = 0;
    while ((await change(two, forged)) === "refused") refusedOnTwo++;
    expect(refusedOnTwo).toBeLessThan(10);
    expect(await change(two, valid)).toBe("rate-limited");
    // Gone again, sessions and all, before the tests below list the users.
    await ok(["ctrl", "--data", n1.dataDir, "users", "remove", "dan"]);
    await one.raw.waitClosed();
    await two.raw.waitClosed();
  }, 60_000);
});

describe("refusals, in one sentence within 10 s", () => {
  test("wrong NATS credentials", async () => {
    const t0 = Date.now();
    const r = await cli(["relay", "--data", s.path("bad-creds"), "--listen", "127.0.0.1:0", "--node", "x", ...natsFlags(s.root, [nats.url], "not-the-password")]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^smsg: cannot start the relay: NATS at nats:\/\/127\.0\.0\.1:\d+ refused user smsg \(wrong name, password or credentials\)$/);
  });

  test("no NATS listening", async () => {
    const t0 = Date.now();
    const r = await cli(["relay", "--data", s.path("no-nats"), "--listen", "127.0.0.1:0", "--node", "x", ...natsFlags(s.root, ["nats://127.0.0.1:9"])]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("cannot reach NATS at nats://127.0.0.1:9");
  });

  test("a node whose relay key is not the cluster's, naming both fingerprints", async () => {
    const r = await cli(["relay", "--data", s.path("other-key"), "--listen", "127.0.0.1:0", "--node", "three", ...natsFlags(s.root, [nats.url])]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/this node's relay key \(fingerprint [0-9a-f]{8}\) is not the cluster's \(fingerprint [0-9a-f]{8}\)/);
    const [mine, theirs] = [...r.stderr.matchAll(/fingerprint ([0-9a-f]{8})/g)].map((m) => m[1]);
    expect(mine).not.toBe(theirs);
  });

  test("--nats without --node, and --node without --nats", async () => {
    const a = await cli(["relay", "--data", s.path("x1"), "--nats", nats.url]);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain("a cluster node needs a name: --node NAME");
    const b = await cli(["relay", "--data", s.path("x2"), "--node", "four"]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain("need --nats URL");
  });
});

describe("offline mail", () => {
  test("is kept in the cluster's replicated bucket, and each node says so when it starts", () => {
    for (const n of [n1, n2]) expect(n.proc.output).toContain(`offline mail: kept in the cluster's bucket "smsg_mail", replicated as the directory`);
  });
});

describe("one directory, users on any node", () => {
  test("ctrl through node two registers alice, who logs in on node one; ctrl with --nats from elsewhere registers bob.smith", async () => {
    await registerVia(n2.dataDir, "alice", pw.alice!);
    // From a folder that is no node's data dir: the --nats flags name the cluster.
    const code = (await ok(["register-code", "--user", "bob.smith", "--password-file", pw["bob.smith"]!])).trim();
    mkdirSync(s.path("elsewhere"), { mode: 0o700 });
    await ok(["ctrl", "--data", s.path("elsewhere"), ...natsFlags(s.root, [nats.url]), "users", "add", "bob.smith", code]);
    const listed = JSON.parse(await ok(["ctrl", "--data", n1.dataDir, "users", "list", "--json"])) as { user: string }[];
    expect(listed.map((u) => u.user)).toEqual(["alice", "bob.smith"]);
    await client("alice", n1);
    await waitConnected(s.path("c-alice"));
  });

  test("presence across nodes: each sees the other, who is on another node", async () => {
    await client("bob.smith", n2);
    await waitConnected(s.path("c-bob.smith"));
    await waitFor("alice to see bob.smith", async () => (JSON.parse(await ok(["users", "--data", s.path("c-alice"), "--json"])) as string[]).includes("bob.smith"));
    const seen = JSON.parse(await ok(["users", "--data", s.path("c-bob.smith"), "--json"])) as string[];
    expect(seen).toEqual(["alice", "bob.smith"]);
  });

  test("a 50 MiB attachment from node one to node two arrives byte-identical, once", async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const file = s.path("big.bin");
    writeFileSync(file, data);
    const out = await ok(["send", "--data", s.path("c-alice"), "--to", "bob.smith", "--subject", "across", "--body", "between nodes", "--attach", file]);
    const id = out.match(/[0-9a-f]{32}/)![0]!;
    await waitFor("delivered", async () => (await outbox(s.path("c-alice"))).find((m) => m.id === id && m.flags === "S"), 90_000, 200);
    const got = (await inbox(s.path("c-bob.smith"))).filter((m) => m.id === id);
    expect(got).toHaveLength(1);
    expect(got[0]!.attachments).toEqual([{ name: "big.bin", size: data.length }]);
    const dest = s.path("saved");
    await ok(["show", id, "--data", s.path("c-bob.smith"), "--save-attachments", dest]);
    const saved = readFileSync(join(dest, "big.bin"));
    expect(createHash("sha256").update(saved).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    // And back the other way, a plain message.
    const back = await ok(["send", "--data", s.path("c-bob.smith"), "--to", "alice", "--subject", "back", "--body", "hi"]);
    const backId = back.match(/[0-9a-f]{32}/)![0]!;
    await waitFor("alice to get the reply", async () => (await inbox(s.path("c-alice"))).find((m) => m.id === backId));
  }, 180_000);

  test("disabling bob.smith through node one ends his session on node two within a second", async () => {
    await ok(["ctrl", "--data", n1.dataDir, "users", "disable", "bob.smith"]);
    const t0 = Date.now();
    await n2.proc.line(/account-revoked user=bob\.smith/, 1000);
    expect(Date.now() - t0).toBeLessThan(1000);
    await waitFor("bob.smith to be disconnected", async () => !(await status(s.path("c-bob.smith"))).connected, 10_000);
    await waitFor("alice to see bob.smith leave", async () => !(JSON.parse(await ok(["users", "--data", s.path("c-alice"), "--json"])) as string[]).includes("bob.smith"));
    await ok(["ctrl", "--data", n2.dataDir, "users", "enable", "bob.smith"]);
    await waitConnected(s.path("c-bob.smith"));
  });

  test("failed logins count on every node: the address limit reached on node one holds on node two", async () => {
    // carol is registered with another password's code: every login of hers fails. Her
    // client on node one fails until the address is limited; then on node two the first
    // try is already "limited", which it would not be on a relay of its own.
    const wrong = passwordFile(s.path("pw-wrong"), "carol", "not carol's password at all");
    await registerVia(n1.dataDir, "carol", wrong);
    const c = await client("carol", n1);
    await waitFor("node one to limit the address", () => n1.proc.lines.some((l) => /login-rate-limited user=carol/.test(l)), 60_000);
    await c.stop();
    const before = n2.proc.lines.length;
    const c2 = s.track(await startClient({ user: "carol", server: `127.0.0.1:${n2.port}`, dataDir: s.path("c-carol2"), passwordFile: pw.carol!, relayKey: n1.key }));
    await waitFor("node two to answer carol", () => n2.proc.lines.slice(before).some((l) => /login-(rate-limited|failed) user=carol/.test(l)), 20_000);
    const first = n2.proc.lines.slice(before).find((l) => /login-(rate-limited|failed) user=carol/.test(l))!;
    expect(first).toContain("login-rate-limited");
    await c2.stop();
  }, 90_000);
});
