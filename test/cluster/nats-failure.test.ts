// NATS under the relays: a NATS server of a three-server cluster killed, the relays
// move to another and mail keeps flowing; the only NATS server restarted, the nodes rejoin
// without a restart; TLS to NATS with a CA made by openssl, and refused without that CA.

import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { Scratch, cli, inbox, ok, passwordFile, startClient, waitConnected, waitFor, type RelayHandle } from "../support/harness.ts";
import { makeCa, startNats, startNatsCluster, waitJetStream } from "../support/nats.ts";
import { natsFlags, registerVia, startNode } from "./support.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

/** alice on node x, bob on node y; returns a function that sends alice -> bob and waits for it. */
async function pair(tag: string, x: RelayHandle, y: RelayHandle) {
  const pw: Record<string, string> = {};
  for (const u of [`alice-${tag}`, `bob-${tag}`]) {
    pw[u] = passwordFile(s.path("pw"), u, `${u} ${randomBytes(4).toString("hex")}`);
    await registerVia(x.dataDir, u, pw[u]!);
  }
  const a = `alice-${tag}`;
  const b = `bob-${tag}`;
  s.track(await startClient({ user: a, server: `127.0.0.1:${x.port}`, dataDir: s.path(a), passwordFile: pw[a]!, relayKey: x.key }));
  s.track(await startClient({ user: b, server: `127.0.0.1:${y.port}`, dataDir: s.path(b), passwordFile: pw[b]!, relayKey: x.key }));
  await waitConnected(s.path(a));
  await waitConnected(s.path(b));
  return async (subject: string, timeoutMs = 30_000) => {
    const out = await ok(["send", "--data", s.path(a), "--to", b, "--subject", subject, "--body", "x"]);
    const id = out.match(/[0-9a-f]{32}/)![0]!;
    await waitFor(`${b} to receive ${subject}`, async () => (await inbox(s.path(b))).find((m) => m.id === id), timeoutMs, 100);
  };
}

describe("NATS failing", () => {
  test("a NATS server of three killed: the relays move to another, mail keeps flowing", async () => {
    const servers = await startNatsCluster(s.path("nats3"));
    for (const n of servers) s.track(n);
    const urls = servers.map((n) => n.url);
    await waitJetStream(urls);
    const x = s.track(await startNode({ root: s.path("c3"), name: "x", nats: urls }));
    const y = s.track(await startNode({ root: s.path("c3"), name: "y", nats: urls, keyFrom: x.dataDir }));
    const send = await pair("three", x, y);
    await send("before");
    // Kill each relay's NATS server in turn would leave one: kill the first, whoever is on it.
    servers[0]!.proc.kill("SIGKILL");
    await send("after one NATS server died", 30_000);
    // The directory (3 replicas) still answers once its stream has a leader again; ctrl waits
    // for that within its own deadline, else fails in one sentence: ask until it answers.
    const listed = await waitFor("ctrl to list the users through the surviving NATS servers", async () => {
      const r = await cli(["ctrl", "--data", y.dataDir, "users", "list", "--json"]);
      if (r.code === 0) return JSON.parse(r.stdout) as unknown[];
      if (r.stderr.trim().split("\n").length !== 1) throw new Error(`not one sentence: ${r.stderr}`);
      return undefined;
    }, 30_000);
    expect(listed).toHaveLength(2);
  }, 120_000);

  test("the only NATS server restarted: the nodes rejoin without a restart", async () => {
    let nats = s.track(await startNats({ dir: s.path("nats1") }));
    const x = s.track(await startNode({ root: s.path("c1"), name: "x", nats: [nats.url] }));
    const y = s.track(await startNode({ root: s.path("c1"), name: "y", nats: [nats.url], keyFrom: x.dataDir }));
    const send = await pair("restart", x, y);
    await send("before");
    await nats.stop("SIGKILL");
    await waitFor("x to notice", () => x.proc.lines.some((l) => l.includes("nats-disconnected")));
    nats = s.track(await startNats({ dir: s.path("nats1"), port: nats.port }));
    await waitFor("x to reconnect", () => x.proc.lines.some((l) => l.includes("nats-reconnected")), 20_000);
    await send("after NATS came back", 40_000);
    expect(x.proc.proc.exitCode).toBeNull();
    expect(y.proc.proc.exitCode).toBeNull();
  }, 120_000);

  test("TLS to NATS with a local CA; without the CA the node is refused in one sentence", async () => {
    const tls = await makeCa(s.path("tls"));
    const nats = s.track(await startNats({ dir: s.path("nats-tls"), tls }));
    const x = s.track(await startNode({ root: s.path("ctls"), name: "x", nats: [nats.url], extra: ["--nats-tls-ca", tls.ca] }));
    expect(x.proc.output).toContain(`cluster node x on NATS ${nats.url}`);
    const r = await cli(["relay", "--data", s.path("ctls-noca"), "--listen", "127.0.0.1:0", "--node", "z", ...natsFlags(s.path("ctls"), [nats.url])]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/TLS to NATS at tls:\/\/127\.0\.0\.1:\d+ failed|cannot reach NATS/);
  }, 60_000);
});
