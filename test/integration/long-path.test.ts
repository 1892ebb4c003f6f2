// A transfer over a long path (SPEC.md §6.3 "The window"): the sender's client reaches a real
// relay through a proxy that delays each direction and limits its rate (bench/lib/slow-path.ts),
// and a 24 MiB attachment must cross it at a fair share of what plain TCP gets through the
// same proxy, measured in the same test: a window that cannot grow past 16 chunks (about 1 MB)
// per round trip is starved there.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, inbox, ok, outbox, passwordFile, register, startClient, startRelay, waitConnected, waitFor, type RelayHandle } from "../support/harness.ts";
import { startSlowPath, type SlowPath } from "../../bench/lib/slow-path.ts";
import { pathRate, plainTcpRate } from "../../bench/lib/path-baseline.ts";

/** 200 ms round trip, 20 MB/s each way: the bandwidth-delay product is 4 MB, four old windows. */
const PATH = { delayMs: 100, bytesPerSecond: 20e6 };
const SIZE = 24 * 1024 * 1024;
/**
 * The share of plain TCP's rate the transfer must reach. The fixed window of 16 chunks gets
 * about a quarter here (983 KB per 200 ms round trip, ~4.9 MB/s of 20), the growing one about
 * two thirds or more; this leaves room for a loaded machine on both sides.
 */
const MIN_SHARE = 0.45;

const s = new Scratch();
let relay: RelayHandle;
let path: SlowPath;

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
  path = startSlowPath({ ...PATH, target: { host: "127.0.0.1", port: relay.port } });
  const pw: Record<string, string> = {};
  for (const u of ["alice", "bob"]) {
    pw[u] = passwordFile(s.path("pw"), u, `${u} long path ${randomBytes(4).toString("hex")}`);
    await register(relay.dataDir, u, pw[u]!);
  }
  // Alice is far away; Bob is next to the relay.
  s.track(await startClient({ user: "alice", server: `127.0.0.1:${path.port}`, dataDir: s.path("alice"), passwordFile: pw.alice!, relayKey: relay.key, heartbeat: 5 }));
  s.track(await startClient({ user: "bob", server: `127.0.0.1:${relay.port}`, dataDir: s.path("bob"), passwordFile: pw.bob!, relayKey: relay.key }));
  await Promise.all(["alice", "bob"].map((u) => waitConnected(s.path(u), 60_000)));
}, 120_000);

afterAll(() => {
  path?.stop();
  s.cleanup();
});

describe("an attachment over a long path", () => {
  test("crosses a 200 ms, 20 MB/s path at a fair share of plain TCP's rate, byte-identical", async () => {
    const file = s.path("far.bin");
    const data = randomBytes(SIZE);
    writeFileSync(file, data);
    const rate = pathRate(path, path.delivered.up, SIZE);
    const out = await ok(["send", "--data", s.path("alice"), "--to", "bob", "--subject", "far", "--body", "from far away", "--attach", file]);
    const id = out.match(/[0-9a-f]{32}/)![0];
    const smsg = await rate;
    const tcp = await plainTcpRate(PATH, SIZE);
    console.log(`long path: smsg ${(smsg / 1e6).toFixed(1)} MB/s, plain TCP ${(tcp / 1e6).toFixed(1)} MB/s (${((smsg / tcp) * 100).toFixed(0)} %)`);

    await waitFor("bob to receive it", async () => (await inbox(s.path("bob"))).find((m) => m.id === id), 60_000, 200);
    await waitFor("alice's copy to be delivered", async () => (await outbox(s.path("alice"))).find((m) => m.id === id && m.flags === "S"), 60_000, 200);
    const dest = s.path("saved");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    expect(createHash("sha256").update(readFileSync(join(dest, "far.bin"))).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));

    expect(smsg).toBeGreaterThanOrEqual(MIN_SHARE * tcp);
  }, 180_000);
});
