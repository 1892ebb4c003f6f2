/// <reference lib="dom" />
// Settings -> Change password in a real Chromium (CLIENT.md §1.6, §2.7): a mismatch is refused
// beside the form; a change ends the browser session, the old password no longer unlocks, the
// new one does; the contact's mail keeps flowing with no hold and their Contacts page says
// the password changed. Real relay and client processes underneath.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { Browser, open, shot, unlock, unlockAfterRefusal, unlockRefused } from "../support/browser.ts";
import { Scratch, ok, outboxFlag, passwordFile, register, startClient, startRelay, waitConnected, type ClientHandle, type RelayHandle } from "../support/harness.ts";

const s = new Scratch();
let relay: RelayHandle;
let browser: Browser;
const password: Record<string, string> = {};
const c: Record<string, ClientHandle> = {};

async function sendCli(from: string, to: string, subject: string): Promise<string> {
  return (await ok(["send", "--data", s.path(from), "--to", to, "--subject", subject, "--body", `${subject} body`])).match(/[0-9a-f]{32}/)![0];
}

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
  for (const u of ["alice", "bob"]) {
    password[u] = `${u} pw ${randomBytes(3).toString("hex")}`;
    const f = passwordFile(s.path("pw"), u, password[u]!);
    await register(relay.dataDir, u, f);
    c[u] = s.track(await startClient({ user: u, server: `127.0.0.1:${relay.port}`, dataDir: s.path(u), passwordFile: f, relayKey: relay.key }));
    await waitConnected(s.path(u));
  }
  browser = await Browser.launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s.cleanup();
});

describe("Settings -> Change password", () => {
  test("the form changes the password; only the new one unlocks; bob's mail goes on without a hold", async () => {
    await outboxFlag(s.path("bob"), await sendCli("bob", "alice", "bob pins alice"), "S");
    const page = await browser.page();
    await unlock(page, c.alice!.url, password.alice!);
    await open(page, `${c.alice!.url}/settings`);
    const next = `alice new ${randomBytes(3).toString("hex")}`;

    await page.getByLabel("Current password").fill(password.alice!);
    await page.getByLabel("New password", { exact: true }).fill(next);
    await page.getByLabel("New password again").fill(`${next} typo`);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("alert").filter({ hasText: "Password not changed: the two new passwords differ." }).waitFor();

    await page.getByLabel("Current password").fill(password.alice!);
    await page.getByLabel("New password", { exact: true }).fill(next);
    await page.getByLabel("New password again").fill(next);
    await shot(page, "settings-change-password");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForURL(/\/unlock$/, { timeout: 40_000 });

    // The old password no longer unlocks; the new one does.
    await unlockRefused(page, password.alice!, "Wrong password.");
    expect(page.url()).toMatch(/\/unlock$/);
    await unlockAfterRefusal(page, next); // the wrong try makes the next one wait a moment
    await waitConnected(s.path("alice"));

    // bob writes again: his client follows alice's signed statement, nothing is held.
    await outboxFlag(s.path("bob"), await sendCli("bob", "alice", "after alice's change"), "S");
    const bobPage = await browser.ctx.newPage();
    await unlock(bobPage, c.bob!.url, password.bob!);
    await open(bobPage, `${c.bob!.url}/contacts`);
    await bobPage.getByText(/alice changed their password on/).waitFor();
    expect(await bobPage.getByRole("button", { name: "Accept" }).count()).toBe(0);
    await shot(bobPage, "contacts-password-changed");
  }, 120_000);
});
