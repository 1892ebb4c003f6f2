// Invites (SPEC.md §3.3): `ctrl invite USER` prints a one-time token, `client
// --invite-file` (or SMSG_INVITE, or --invite) registers the user's code at its first login
// with no operator step, and the token never shows in the process list (SECURITY.md §14 #6).
// Reused, expired and wrong-user invites get exactly the answer of any failed login.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, cli, ok, passwordFile, startClient, startRelay, waitConnected, waitFor, type RelayHandle } from "../support/harness.ts";
import { RawClient } from "../support/raw-client.ts";
import { decodeInvite, deriveUserKeys, encodeRegistrationCode } from "../../src/protocol/keys.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";

const s = new Scratch();
let relay: RelayHandle;
beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
}, 60_000);
afterAll(() => s.cleanup());

const invite = async (user: string, ...more: string[]) => (await ok(["ctrl", "--data", relay.dataDir, "invite", user, ...more])).trim();
const users = async () => JSON.parse(await ok(["ctrl", "--data", relay.dataDir, "users", "list", "--json"])) as { user: string; code: string | null }[];
const REFUSED = { status: "auth-failed", reason: "login refused: wrong password, or the user is not registered or not yet approved" };

describe("invites", () => {
  test("a real client with a valid invite registers and connects, with no operator step", async () => {
    const token = await invite("nina");
    expect(token).toMatch(/^smsginvite1[02-9ac-hj-np-z]{58}$/);
    expect((await users()).find((u) => u.user === "nina")).toMatchObject({ code: null });
    const pw = passwordFile(s.path("pw"), "nina", "nina's password");
    const code = (await ok(["register-code", "--user", "nina", "--password-file", pw])).trim();
    s.track(await startClient({ user: "nina", server: `127.0.0.1:${relay.port}`, dataDir: s.path("nina"), passwordFile: pw, relayKey: relay.key, extra: ["--invite", token] }));
    await waitConnected(s.path("nina"));
    expect((await users()).find((u) => u.user === "nina")?.code).toBe(code);
    expect(JSON.parse(await ok(["ctrl", "--data", relay.dataDir, "invites", "--json"]))).toEqual([]);
    const log = readFileSync(join(relay.dataDir, "logs", `relay-${new Date().toISOString().slice(0, 10)}.log`), "utf8");
    expect(log).toMatch(/info registered user=nina addr=127\.0\.0\.1 via=invite key=[0-9a-f]{8}\n/);
    expect(log).not.toContain(token);
  });

  test("--invite-file registers, and the token is not in /proc/PID/cmdline", async () => {
    const token = await invite("uma");
    const file = s.path("uma.invite");
    writeFileSync(file, token + "\n", { mode: 0o600 });
    const pw = passwordFile(s.path("pw"), "uma", "uma's password");
    const code = (await ok(["register-code", "--user", "uma", "--password-file", pw])).trim();
    const c = s.track(await startClient({ user: "uma", server: `127.0.0.1:${relay.port}`, dataDir: s.path("uma"), passwordFile: pw, relayKey: relay.key, extra: ["--invite-file", file] }));
    await waitConnected(s.path("uma"));
    expect((await users()).find((u) => u.user === "uma")?.code).toBe(code);
    const cmdline = readFileSync(`/proc/${c.proc.proc.pid}/cmdline`, "utf8");
    expect(cmdline).toContain(`--invite-file\0${file}`); // the right process
    expect(cmdline).not.toContain(token);
    expect(cmdline).not.toContain(token.slice(11, 30));
  });

  test("SMSG_INVITE registers like --invite-file, with nothing in argv", async () => {
    const token = await invite("val");
    const pw = passwordFile(s.path("pw"), "val", "val's password");
    const code = (await ok(["register-code", "--user", "val", "--password-file", pw])).trim();
    const c = s.track(await startClient({ user: "val", server: `127.0.0.1:${relay.port}`, dataDir: s.path("val"), passwordFile: pw, relayKey: relay.key, env: { SMSG_INVITE: token } }));
    await waitConnected(s.path("val"));
    expect((await users()).find((u) => u.user === "val")?.code).toBe(code);
    expect(readFileSync(`/proc/${c.proc.proc.pid}/cmdline`, "utf8")).not.toContain(token);
  });

  test("a used invite is refused like any failed login", async () => {
    const token = decodeInvite(await invite("omar"));
    const omar = await deriveUserKeys("omar", "omar's password");
    expect((await RawClient.login("127.0.0.1", relay.port, "omar", omar.login, token)).status).toBe("ok");
    const again = await RawClient.login("127.0.0.1", relay.port, "omar", x25519Generate(), token);
    expect({ status: again.status, reason: again.reason }).toEqual(REFUSED);
    expect((await users()).find((u) => u.user === "omar")?.code).toBe(encodeRegistrationCode(omar.login.publicKey));
  });

  test("an invite for another user is refused and stays usable by its own user", async () => {
    await ok(["ctrl", "--data", relay.dataDir, "users", "add", "pia"]);
    const token = decodeInvite(await invite("quinn"));
    const wrong = await RawClient.login("127.0.0.1", relay.port, "pia", x25519Generate(), token);
    expect({ status: wrong.status, reason: wrong.reason }).toEqual(REFUSED);
    expect((await users()).find((u) => u.user === "pia")?.code).toBeNull();
    const quinn = await deriveUserKeys("quinn", "quinn's password");
    expect((await RawClient.login("127.0.0.1", relay.port, "quinn", quinn.login, token)).status).toBe("ok");
  });

  test("an expired invite is refused like any failed login", async () => {
    const made = JSON.parse(await invite("rosa", "--expires", "1s", "--json")) as { user: string; invite: string; expires: string };
    expect(made.user).toBe("rosa");
    const token = decodeInvite(made.invite);
    await waitFor("the invite to expire", () => Date.now() > Date.parse(made.expires) + 100 || undefined, 5000);
    const r = await RawClient.login("127.0.0.1", relay.port, "rosa", x25519Generate(), token);
    expect({ status: r.status, reason: r.reason }).toEqual(REFUSED);
    expect((await users()).find((u) => u.user === "rosa")?.code).toBeNull();
    expect(JSON.parse(await ok(["ctrl", "--data", relay.dataDir, "invites", "--json"]))).toEqual([]);
  });

  test("bad tokens and durations are one clear sentence", async () => {
    const base = ["client", "--server", `127.0.0.1:${relay.port}`, "--user", "sam", "--data", s.path("sam"), "--password-file", passwordFile(s.path("pw"), "sam", "x")];
    const c = await cli([...base, "--relay-key", relay.key, "--invite", "smsginvite1qqqq"]);
    expect(c.code).toBe(1);
    expect(c.stderr.trim()).toBe('smsg: "smsginvite1qqqq" is not an invite (smsginvite1..., checksum or format wrong)');
    // Never to a relay whose key the client does not know yet: an impostor would get it.
    const n = await cli([...base, "--invite", await invite("sam")]);
    expect(n.code).toBe(1);
    expect(n.stderr.trim()).toBe("smsg: --invite needs --relay-key (the relay key the operator gave you with the invite)");
    const file = s.path("sam.invite");
    writeFileSync(file, "smsginvite1qqqq\n");
    const f = await cli([...base, "--relay-key", relay.key, "--invite-file", file]);
    expect([f.code, f.stderr.trim()]).toEqual([1, `smsg: the invite file ${file} does not hold an invite (smsginvite1..., checksum or format wrong)`]);
    const m = await cli([...base, "--relay-key", relay.key, "--invite-file", s.path("missing.invite")]);
    expect([m.code, m.stderr.trim()]).toEqual([1, `smsg: cannot read the invite file ${s.path("missing.invite")}`]);
    writeFileSync(file, await invite("sam"));
    const nf = await cli([...base, "--invite-file", file]);
    expect([nf.code, nf.stderr.trim()]).toEqual([1, "smsg: --invite-file needs --relay-key (the relay key the operator gave you with the invite)"]);
    const e = await cli([...base, "--relay-key", relay.key], { SMSG_INVITE: "smsginvite1qqqq" });
    expect([e.code, e.stderr.trim()]).toEqual([1, "smsg: SMSG_INVITE does not hold an invite (smsginvite1..., checksum or format wrong)"]);
    const d = await cli(["ctrl", "--data", relay.dataDir, "invite", "sam", "--expires", "forever"]);
    expect(d.code).toBe(1);
    expect(d.stderr).toContain("--expires must be like 7d, 12h, 30m or 600s");
  });
});
