// A password change killed with SIGKILL at each of its steps (CLIENT.md §1.6): in the client
// after the store is prepared, after the relay said ok, after the store committed; in the
// relay on receiving CHANGE_CODE and after committing it. Each time the account stays usable:
// one of the two passwords unlocks and logs in, the change completes at the next login, and
// then only the new password works.

import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  Scratch,
  cli,
  passwordFile,
  register,
  startClient,
  startRelay,
  waitConnected,
  waitFor,
  type RelayHandle,
} from "../support/harness.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

async function relayFor(tag: string, env: Record<string, string> = {}, port = 0): Promise<RelayHandle> {
  return s.track(await startRelay({ dataDir: s.path(tag, "relay"), listen: [`127.0.0.1:${port}`], heartbeatTimeout: 3, env }));
}

async function client(tag: string, relay: RelayHandle, pwFile: string, env: Record<string, string> = {}) {
  return s.track(await startClient({ user: "dave", server: `127.0.0.1:${relay.port}`, dataDir: s.path(tag, "dave"), passwordFile: pwFile, relayKey: relay.key, env }));
}

/** Does this password still open dave's store? (the client refuses a wrong one at once) */
async function opens(tag: string, relay: RelayHandle, pwFile: string): Promise<boolean> {
  const r = await cli(["client", "--server", `127.0.0.1:${relay.port}`, "--user", "dave", "--data", s.path(tag, "dave"), "--password-file", pwFile, "--ui", "127.0.0.1:0", "--no-tray", "--max-backoff", "1"], {});
  return !r.stderr.includes("wrong password");
}

/** After the crash: `first` unlocks and logs in, the change completes; then only `next` works. */
async function completes(tag: string, relay: RelayHandle, first: string, old: string, next: string, stillPending: boolean): Promise<void> {
  const c = await client(tag, relay, first);
  if (stillPending) await waitFor("the change to complete", () => c.proc.lines.some((l) => l.includes("password changed:")) || undefined, 30_000);
  await waitConnected(s.path(tag, "dave"), 30_000);
  await c.stop();
  // The old password opens nothing now (a wrong password exits at once with status 1).
  const r = await cli(["client", "--server", `127.0.0.1:${relay.port}`, "--user", "dave", "--data", s.path(tag, "dave"), "--password-file", old, "--ui", "127.0.0.1:0", "--no-tray"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("wrong password");
  const again = await client(tag, relay, next);
  await waitConnected(s.path(tag, "dave"), 30_000);
  await again.stop();
}

async function setUp(tag: string, relayEnv: Record<string, string> = {}) {
  const relay = await relayFor(tag, relayEnv);
  const old = passwordFile(s.path(tag, "pw-old"), "dave", `old ${randomBytes(4).toString("hex")}`);
  const next = passwordFile(s.path(tag, "pw-new"), "dave", `new ${randomBytes(4).toString("hex")}`);
  await register(relay.dataDir, "dave", old);
  return { relay, old, next };
}

describe("kill -9 during a password change", () => {
  for (const [step, restartWith] of [
    ["prepared", "next"],
    ["switched", "old"],
    ["committed", "next"],
  ] as const) {
    test(`client killed at "${step}": the ${restartWith} password unlocks, logs in and completes the change`, async () => {
      const { relay, old, next } = await setUp(step);
      const c = await client(step, relay, old, { SMSG_TEST_CRASH_AT: step });
      await waitConnected(s.path(step, "dave"));
      const r = await cli(["passwd", "--data", s.path(step, "dave"), "--password-file", old, "--new-password-file", next]);
      expect(r.code).toBe(1);
      expect(await c.proc.proc.exited).toBe(137); // SIGKILL
      if (step === "committed") expect(await opens(step, relay, old)).toBe(false);
      await completes(step, relay, restartWith === "old" ? old : next, old, next, step !== "committed");
    }, 120_000);
  }

  for (const step of ["relay-received", "relay-committed"] as const) {
    test(`relay killed at "${step}": after it restarts the change completes, with one password working throughout`, async () => {
      const { relay, old, next } = await setUp(step, { SMSG_TEST_CRASH_AT: step });
      const c = await client(step, relay, old);
      await waitConnected(s.path(step, "dave"));
      const passwd = cli(["passwd", "--data", s.path(step, "dave"), "--password-file", old, "--new-password-file", next]);
      expect(await relay.proc.proc.exited).toBe(137);
      // While the relay is gone the client runs on and still accepts its old password.
      const back = await relayFor(step, {}, relay.port);
      const r = await passwd;
      // The command waits for the relay; whether it saw the end or timed out, the change completes.
      expect([0, 1]).toContain(r.code);
      await waitFor("the change to complete", () => c.proc.lines.some((l) => l.includes("password changed:")) || undefined, 40_000);
      await c.stop();
      await completes(step, back, next, old, next, false);
    }, 120_000);
  }
});
