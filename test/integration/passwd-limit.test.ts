// Refused password changes are limited per user id (SPEC.md §3.3, SECURITY.md): a session,
// stolen or not, that keeps sending CHANGE_CODEs the relay refuses runs out of tries, and
// then even a valid change waits; other users are not affected.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Scratch, cli, passwordFile, register, startClient, startRelay, waitConnected, waitFor, type RelayHandle } from "../support/harness.ts";
import { RawClient } from "../support/raw-client.ts";
import { deriveUserKeys, type UserKeys } from "../../src/protocol/keys.ts";
import { signIdentityChange, type IdentityChange } from "../../src/protocol/identity-change.ts";
import { randomBytes } from "../../src/protocol/primitives.ts";
import type { Message } from "../../src/protocol/messages.ts";

const s = new Scratch();
let relay: RelayHandle;
const keys: Record<string, UserKeys> = {};
const pwFiles: Record<string, string> = {};

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
  for (const u of ["zoe", "yan"]) {
    const pw = `${u} password`;
    pwFiles[u] = passwordFile(s.path("pw"), u, pw);
    await register(relay.dataDir, u, pwFiles[u]!);
    keys[u] = await deriveUserKeys(u, pw);
  }
}, 60_000);
afterAll(() => s.cleanup());

/** A logged-in session with a published key, as the real client has before CHANGE_CODE. */
async function session(user: string): Promise<RawClient> {
  const k = keys[user]!;
  const r = await RawClient.login("127.0.0.1", relay.port, user, k.login);
  expect(r.status).toBe("ok");
  r.client.publish(user, k.identity.seed, k.identity.publicKey);
  return r.client;
}

async function change(c: RawClient, req: number, code: Uint8Array, statement: IdentityChange): Promise<{ status: string; reason: string }> {
  c.send({ t: "changeCode", req, code, change: statement });
  const m = (await c.next((x: Message) => x.t === "changeResult" && x.req === req)) as Extract<Message, { t: "changeResult" }>;
  return { status: m.status, reason: m.reason };
}

describe("CHANGE_CODE limit", () => {
  test("after the burst of refusals a user's changes are rate limited, on any session; others are not", async () => {
    const zoe = keys.zoe!;
    const next = await deriveUserKeys("zoe", "zoe's new password");
    const valid = signIdentityChange(zoe.identity.seed, "zoe", zoe.identity.publicKey, next.identity.publicKey, Date.now());
    const forged = { ...valid, sig: randomBytes(64) };

    const c = await session("zoe");
    // The default burst is 10 refusals (failed_changes_burst), refilled at 10 an hour.
    const answers: string[] = [];
    for (let i = 1; i <= 10; i++) answers.push((await change(c, i, next.login.publicKey, forged)).status);
    expect(answers).toEqual(Array(10).fill("refused"));
    const limited = await change(c, 11, next.login.publicKey, valid);
    expect(limited.status).toBe("rate-limited");
    expect(limited.reason).toContain("too many refused password changes");
    await waitFor("the relay to log the limit", () => relay.proc.lines.some((l) => l.includes("code-change-rate-limited") && l.includes("zoe")));

    // A new session of the same user gets no new budget, and the valid change was not adopted:
    // the old code still logs in, the new one does not.
    const again = await session("zoe");
    expect((await change(again, 1, next.login.publicKey, valid)).status).toBe("rate-limited");
    expect((await RawClient.login("127.0.0.1", relay.port, "zoe", next.login)).status).toBe("auth-failed");

    // The limit is zoe's alone: yan changes his code at once.
    const yan = keys.yan!;
    const yanNext = await deriveUserKeys("yan", "yan's new password");
    const y = await session("yan");
    const ok = await change(y, 1, yanNext.login.publicKey, signIdentityChange(yan.identity.seed, "yan", yan.identity.publicKey, yanNext.identity.publicKey, Date.now()));
    expect(ok).toEqual({ status: "ok", reason: "" });

    // zoe's own client meanwhile: smsg passwd says why in one sentence, the password is unchanged.
    s.track(await startClient({ user: "zoe", server: `127.0.0.1:${relay.port}`, dataDir: s.path("zoe"), passwordFile: pwFiles.zoe!, relayKey: relay.key }));
    await waitConnected(s.path("zoe"));
    const nextPw = passwordFile(s.path("pw", "next"), "zoe", "zoe's next password");
    const r = await cli(["passwd", "--data", s.path("zoe"), "--password-file", pwFiles.zoe!, "--new-password-file", nextPw]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("too many refused password changes");
    expect(r.stderr).toContain("unchanged");
    expect(r.stderr).not.toContain("    at ");
    expect((await RawClient.login("127.0.0.1", relay.port, "zoe", zoe.login)).status).toBe("ok");
  }, 90_000);
});
