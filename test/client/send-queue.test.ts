// The sender's memory bound (SPEC.md §6.3 "The window"): whatever window the relay grants,
// the outbox posts a chunk only while less than SEND_QUEUE_BYTES waits for the kernel on its
// link. Alice's daemon runs in this process, so its counter can be read; the relay and Bob
// are real processes, and the attachment goes through the CLI a person uses.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, inbox, ok, outbox, passwordFile, register, startClient, startRelay, waitConnected, waitFor, type ClientHandle, type RelayHandle } from "../support/harness.ts";
import { runClient, type RunningClient } from "../../src/client/run-client.ts";
import { decodeRelayKey } from "../../src/protocol/keys.ts";
import { SEND_QUEUE_BYTES } from "../../src/client/outbox.ts";
import { STREAM_CHUNK } from "../../src/protocol/stream.ts";

const SIZE = 50 * 1024 * 1024;
/** A chunk's CHUNK record: its data, the AES-GCM tag, the message head and record overheads. */
const ONE_CHUNK = STREAM_CHUNK + 1024;

const s = new Scratch();
let relay: RelayHandle;
let alice: RunningClient;
let bob: ClientHandle;

/** Bytes Bob's daemon has written into its attachment files so far. */
function bobReceived(): number {
  const dir = join(s.path("bob"), "client.db-attachments");
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
  const pw: Record<string, string> = {};
  for (const u of ["alice", "bob"]) {
    pw[u] = passwordFile(s.path("pw"), u, `${u} send queue ${randomBytes(4).toString("hex")}`);
    await register(relay.dataDir, u, pw[u]!);
  }
  bob = s.track(await startClient({ user: "bob", server: `127.0.0.1:${relay.port}`, dataDir: s.path("bob"), passwordFile: pw.bob!, relayKey: relay.key }));
  alice = await runClient({
    host: "127.0.0.1",
    port: relay.port,
    user: "alice",
    password: readFileSync(pw.alice!, "utf8").trim(),
    dataDir: s.path("alice"),
    ui: { host: "127.0.0.1", port: 0 },
    relayKey: decodeRelayKey(relay.key),
    heartbeat: 1,
    maxBackoff: 1,
    log: () => {},
  });
  await Promise.all(["alice", "bob"].map((u) => waitConnected(s.path(u), 60_000)));
}, 120_000);

afterAll(async () => {
  await alice?.stop();
  s.cleanup();
});

describe("the sender's queue", () => {
  test("never holds more than its cap for the kernel across a 50 MiB attachment, which arrives intact", async () => {
    const file = s.path("big.bin");
    const data = randomBytes(SIZE);
    writeFileSync(file, data);
    const out = await ok(["send", "--data", s.path("alice"), "--to", "bob", "--subject", "queue", "--body", "50 MiB", "--attach", file]);
    const id = out.match(/[0-9a-f]{32}/)![0];
    // Once the window has grown, Bob stops reading: the relay's output to him fills, it stops
    // reading Alice (SPEC.md §6.5), and what Alice may still send within the window granted
    // (megabytes) can only wait in her daemon. Bob goes on once her queue stands still.
    await waitFor("bob to store 12 MiB of it", () => bobReceived() >= 12 * 1024 * 1024, 60_000, 5);
    bob.proc.proc.kill("SIGSTOP");
    try {
      let last = -1;
      await waitFor(
        "alice's queue to stand still",
        () => {
          const now = alice.host.daemon.sendQueueBytes;
          const still = now === last;
          last = now;
          return still;
        },
        30_000,
        500,
      );
    } finally {
      bob.proc.proc.kill("SIGCONT");
    }
    await waitFor("alice's copy to be delivered", async () => (await outbox(s.path("alice"))).find((m) => m.id === id && m.flags === "S"), 120_000, 100);
    await waitFor("bob to list it", async () => (await inbox(s.path("bob"))).find((m) => m.id === id), 60_000, 100);
    const dest = s.path("saved");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    expect(createHash("sha256").update(readFileSync(join(dest, "big.bin"))).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));

    const peak = alice.host.daemon.peakSendQueueBytes;
    console.log(`send queue: peak ${(peak / 1024).toFixed(0)} KiB, cap ${SEND_QUEUE_BYTES / 1024} KiB`);
    expect(peak).toBeGreaterThan(0); // the counter saw the chunks
    expect(peak).toBeLessThanOrEqual(SEND_QUEUE_BYTES + ONE_CHUNK);
  }, 240_000);
});
