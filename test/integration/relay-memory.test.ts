// One account against the relay's memory (SPEC.md §6.5, SECURITY.md §14 row 4): a client logs
// in as many sessions as one address may have, floods batches of GET_KEY and WHO and never
// reads the answers. The relay's resident memory must stay near its baseline, and two other
// users must still exchange mail while the flood runs.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Scratch, received, sendMail, type RelayHandle } from "../support/harness.ts";
import { startWorld } from "../support/world.ts";
import { RawClient } from "../support/raw-client.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";
import type { Message } from "../../src/protocol/messages.ts";

const s = new Scratch();
let relay: RelayHandle;

beforeAll(async () => {
  // Passwords of a known text: mallory logs in by hand; clients learn the relay key on first use.
  const w = await startWorld(s, { users: ["alice", "bob", "mallory"], idle: ["mallory"], password: (u) => `${u}-pw`, pinRelayKey: false });
  relay = w.relay;
}, 120_000);
afterAll(() => s.cleanup());

/** Resident memory of a process, in MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) / 1024;
}

/** Send alice -> bob and wait until bob has it. */
async function mailFlows(tag: string, timeoutMs = 30_000): Promise<void> {
  await received(s.path("bob"), await sendMail(s.path("alice"), "bob", tag, "ok"), timeoutMs);
}

/**
 * The largest batch of GET_KEY for bob (online: each answer carries his 136-byte key) and
 * one WHO that fits a record: about 5,900 requests of 11 bytes drawing 146 bytes each.
 */
function floodBatch(): Message[] {
  const ms: Message[] = [{ t: "who", req: 0 }];
  for (let req = 1; req < 5_900; req++) ms.push({ t: "getKey", req, user: "bob" });
  return ms;
}

test("one account flooding requests without reading keeps the relay's memory bounded; others' mail flows", async () => {
  const pid = relay.proc.proc.pid;
  await mailFlows("warm-up"); // the paths an honest message takes are loaded before the baseline
  Bun.gc(true);
  const baseline = rssMiB(pid);

  // As many sessions as the address allows (alice's and bob's clients hold two of its 50):
  // one publishes a key, the others never do.
  const mallory = await deriveUserKeys("mallory", "mallory-pw");
  const sessions: RawClient[] = [];
  for (let i = 0; i < 48; i++) {
    const { client, status } = await RawClient.login("127.0.0.1", relay.port, "mallory", mallory.login);
    expect(status).toBe("ok");
    if (i === 0) client.publish("mallory", mallory.identity.seed, mallory.identity.publicKey);
    sessions.push(client);
  }
  // Never read again: the kernel's buffers fill and the relay's writes back up.
  for (const c of sessions) c.raw.framed.socket.pause();

  let peak = baseline;
  let flooding = true;
  const sample = (async () => {
    while (flooding) {
      peak = Math.max(peak, rssMiB(pid));
      await Bun.sleep(50);
    }
  })();
  // Each session asks for 40 records' worth of answers (about 34 MiB, past the old limit of
  // 32 MiB per session), sent only as fast as the relay takes them in: a relay that stops
  // reading a session is not made to hold the test's own queue.
  const RECORDS = 40;
  const batch = floodBatch();
  const sent = sessions.map(() => 0);
  const flood = (async () => {
    const deadline = Date.now() + 12_000;
    while (Date.now() < deadline && sent.some((n) => n < RECORDS)) {
      for (const [i, c] of sessions.entries()) {
        if (c.raw.closed || sent[i]! >= RECORDS || c.raw.framed.queuedBytes > 256 * 1024) continue;
        c.sendBatch(batch);
        sent[i]!++;
      }
      await Bun.sleep(5);
    }
  })();
  try {
    // Mail between two other users goes through while the flood runs.
    await mailFlows("during the flood");
    await flood;
    peak = Math.max(peak, rssMiB(pid));
  } finally {
    flooding = false;
    await sample;
    for (const c of sessions) c.raw.framed.close();
  }
  // X = 80 MiB. What the relay may hold for mallory: the published session's share (1 MiB)
  // and one decoded record of requests it has not acted on yet (5,900 Messages, ~1 MiB);
  // the 47 others are closed at their 9th request (ERROR limit), each after answers of under
  // 2 KiB. What it cannot avoid is garbage: each session's first record is decrypted and
  // decoded whole (SPEC.md §4.4) before the 9th item is refused, 280,000 Messages in about a
  // second, and the collector runs behind: measured at 40-50 MiB over the baseline for a
  // second, then 12 MiB while the flood goes on. Before the budgets this run reached 410-460
  // MiB over a baseline of 50 MiB and was still growing, and the mail below did not get through.
  console.log(`relay RSS: baseline ${baseline.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB during the flood`);
  expect(peak).toBeLessThan(baseline + 80);
  await mailFlows("after the flood");
}, 120_000);
