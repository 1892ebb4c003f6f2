// The unlock's Argon2id takes 64 MiB (SPEC.md §3.2) and frees it when it ends; the allocator
// then kept it resident for another 150-300 ms, while the unlock derived the keys, opened the
// store and started the daemon on top of it: that sum was a daemon's peak memory
// (bench/README.md). The client now has it returned as the derivation ends.

import { afterAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { ClientHost } from "../../src/client/host.ts";
import { Scratch } from "../support/harness.ts";
import { freePort } from "../support/nats.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

/** This process's resident anonymous memory (heap, not mapped files), MiB. */
function anonMiB(): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return Number(m![1]) / 1024;
}

test.if(process.platform === "linux")("unlocking gives Argon2id's 64 MiB back by the time the daemon runs", async () => {
  // No relay listens there: the daemon starts and keeps trying, which is all this needs.
  const opts = { host: "127.0.0.1", port: freePort(), heartbeat: 30, maxBackoff: 30 };
  mkdirSync(s.path("alice"), { mode: 0o700 });
  const host = new ClientHost({ user: "alice", dataDir: s.path("alice"), opts, log: () => {} });
  Bun.gc(true);
  const before = anonMiB();
  let during = before;
  // The derivation runs on another thread: the event loop is free to watch it take its memory.
  const watch = setInterval(() => (during = Math.max(during, anonMiB())), 5);
  try {
    await host.unlock("a password for the memory test");
  } finally {
    clearInterval(watch);
  }
  const after = anonMiB();
  host.stop();
  expect(during - before).toBeGreaterThan(48); // Argon2id's memory was there (the check can see it)
  expect(after - before).toBeLessThan(24); // and is gone once unlock returns
}, 60_000);
