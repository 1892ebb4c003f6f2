/// <reference lib="dom" />
// The everyday actions of the mailbox in a real Chromium, by accessible names (CLIENT.md
// §2.6, §2.8): the reading pane on wide and narrow windows (screenshots in test-artifacts/),
// keyboard shortcuts and their help, Delete / Trash / Restore / Empty Trash, Mark as unread,
// Reply All, Forward with the stored attachments, drafts saved as typed and on leaving,
// Print and Export .eml. Real relay and client processes underneath.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { spawnSync } from "bun";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { Browser, open, ready, shot, unlock } from "../support/browser.ts";
import { Scratch, inbox, ok, passwordFile, register, sendMail, startClient, startRelay, waitConnected, waitFor, type ClientHandle, type RelayHandle } from "../support/harness.ts";

const s = new Scratch();
let relay: RelayHandle;
let browser: Browser;
const password: Record<string, string> = {};
const c: Record<string, ClientHandle> = {};
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const WIDE = { width: 1400, height: 900 };
const NARROW = { width: 760, height: 900 };
const arrived = (user: string, id: string) => waitFor(`${user} to get ${id}`, async () => (await inbox(s.path(user))).find((m) => m.id === id), 30_000, 100);

async function page(user: string, viewport = WIDE): Promise<Page> {
  const p = await browser.ctx.newPage();
  await p.setViewportSize(viewport);
  await unlock(p, c[user]!.url, password[user]!);
  return p;
}

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
  await Promise.all(
    ["alice", "bob", "carol"].map(async (u) => {
      password[u] = `${u} pw ${randomBytes(3).toString("hex")}`;
      const pw = passwordFile(s.path("pw"), u, password[u]!);
      await register(relay.dataDir, u, pw);
      c[u] = s.track(await startClient({ user: u, server: `127.0.0.1:${relay.port}`, dataDir: s.path(u), passwordFile: pw, relayKey: relay.key }));
      await waitConnected(s.path(u));
    }),
  );
  browser = await Browser.launch(WIDE);
}, 120_000);

afterAll(async () => {
  // No script error and no dialog in any page of this file.
  expect(browser.errors).toEqual([]);
  expect(browser.dialogs).toEqual([]);
  await browser?.close();
  await s.cleanup();
});

describe("the reading pane and the keyboard", () => {
  test("wide: the list and the selected message side by side; j/k move, ? shows the help; narrow: the list alone, a click opens the page", async () => {
    const first = await sendMail(s.path("alice"), "bob", "Pane one", "First message, read in the pane.");
    const second = await sendMail(s.path("alice"), "bob", "Pane two", "Second message.\nTwo lines.");
    await arrived("bob", first);
    await arrived("bob", second);
    const p = await page("bob");
    await p.locator("tr", { hasText: "Pane two" }).getByRole("link").click();
    const pane = p.getByRole("region", { name: "Reading pane" });
    await pane.getByRole("heading", { name: "Pane two" }).waitFor();
    expect(new URL(p.url()).pathname).toBe("/inbox"); // no navigation: side by side
    expect(await pane.locator(".body").textContent()).toBe("Second message.\nTwo lines.");
    // Side by side: the pane starts right of the list, at the same height.
    const [list, box] = [await p.locator("#list").boundingBox(), await pane.boundingBox()];
    expect(box!.x).toBeGreaterThan(list!.x + list!.width - 1);
    expect(Math.abs(box!.y - list!.y)).toBeLessThan(5);
    await shot(p, "reading-pane-wide");

    // Keyboard: the clicked row is the selected one; j selects and shows the next, k the previous.
    expect(await p.locator("tr.selected").textContent()).toContain("Pane two");
    await p.locator("body").click({ position: { x: 5, y: 5 } });
    await p.keyboard.press("j");
    await pane.getByRole("heading", { name: "Pane one" }).waitFor();
    expect(await p.locator("tr.selected").textContent()).toContain("Pane one");
    await p.keyboard.press("k");
    await pane.getByRole("heading", { name: "Pane two" }).waitFor();
    expect(await p.locator("tr.selected").textContent()).toContain("Pane two");
    // ? shows every shortcut; Escape hides it.
    await p.keyboard.press("?");
    const help = p.getByRole("dialog", { name: "Keyboard shortcuts" });
    await help.waitFor();
    const text = await help.textContent();
    for (const what of ["next message", "previous message", "open the selected message", "reply", "reply all", "forward", "delete (move to the Trash)", "compose a new message", "search this folder"]) {
      expect(text).toContain(what);
    }
    await shot(p, "keyboard-help");
    await p.keyboard.press("Escape");
    await help.waitFor({ state: "hidden" });
    // / goes to the search box; c composes; a answers everyone from the pane's message.
    await p.keyboard.press("/");
    expect(await p.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Search");
    await p.locator("body").click({ position: { x: 5, y: 5 } });
    await p.keyboard.press("a");
    await p.waitForURL(/\/compose\?replyall=/);
    await ready(p);
    expect(await p.getByLabel("Subject").inputValue()).toBe("Re: Pane two");
    await p.locator("body").click({ position: { x: 5, y: 5 } });
    await open(p, c.bob!.url + "/inbox");
    await p.keyboard.press("c");
    await p.waitForURL(/\/compose$/);

    // Narrow: the pane is not shown, the link opens the message's own page.
    await p.setViewportSize(NARROW);
    await open(p, c.bob!.url + "/inbox");
    expect(await p.getByRole("region", { name: "Reading pane" }).isVisible()).toBe(false);
    await shot(p, "reading-pane-narrow");
    await p.locator("tr", { hasText: "Pane one" }).getByRole("link").click();
    await p.waitForURL(/\/messages\//);
    await ready(p);
    expect(await p.locator("h1").textContent()).toBe("Pane one");
    await p.close();
  }, 90_000);
});

describe("Delete, Trash, Restore, Empty Trash, Mark as unread", () => {
  test("Delete moves a message to Trash, Restore brings it back, Empty Trash removes it; Mark as unread makes it bold again", async () => {
    const id = await sendMail(s.path("alice"), "bob", "Trash me", "x");
    await arrived("bob", id);
    const p = await page("bob");
    await p.locator("tr", { hasText: "Trash me" }).getByRole("link").click();
    const pane = p.getByRole("region", { name: "Reading pane" });
    // The page is /inbox already: wait for the new document the form post leads to.
    await Promise.all([p.waitForEvent("load"), pane.getByRole("button", { name: "Mark as unread" }).click()]);
    await ready(p);
    await p.locator("tr.unread", { hasText: "Trash me" }).waitFor();

    await p.locator("tr", { hasText: "Trash me" }).getByRole("link").click();
    await Promise.all([p.waitForEvent("load"), pane.getByRole("button", { name: "Delete" }).click()]);
    await ready(p);
    expect(await p.locator("tr", { hasText: "Trash me" }).count()).toBe(0);
    await p.getByRole("link", { name: "Trash" }).click();
    await p.waitForURL(/\/trash$/);
    await ready(p);
    await p.locator("tr", { hasText: "Trash me" }).getByRole("link").click();
    await Promise.all([p.waitForEvent("load"), pane.getByRole("button", { name: "Restore" }).click()]);
    await ready(p);
    expect(await p.locator("tr", { hasText: "Trash me" }).count()).toBe(0);
    expect((await inbox(s.path("bob"))).some((m) => m.id === id)).toBe(true);

    // The keyboard's # deletes the message being read; Empty Trash removes it for good.
    await open(p, c.bob!.url + "/inbox");
    await p.locator("tr", { hasText: "Trash me" }).getByRole("link").click();
    await pane.getByRole("heading", { name: "Trash me" }).waitFor();
    await p.locator("body").click({ position: { x: 5, y: 5 } });
    await Promise.all([p.waitForEvent("load"), p.keyboard.press("#")]);
    await ready(p);
    expect(await p.locator("tr", { hasText: "Trash me" }).count()).toBe(0);
    await open(p, c.bob!.url + "/trash");
    await p.locator("tr", { hasText: "Trash me" }).waitFor();
    await Promise.all([p.waitForEvent("load"), p.getByRole("button", { name: "Empty Trash" }).click()]);
    await ready(p);
    await p.getByText("No messages.").waitFor();
    const gone = await ok(["show", id, "--data", s.path("bob"), "--json"]).catch((e: Error) => e.message);
    expect(gone).toContain(`no message ${id}`);
    await p.close();
  }, 90_000);
});

describe("Reply All and Forward", () => {
  test("Reply All answers the sender and the other recipients, not oneself", async () => {
    const id = await sendMail(s.path("alice"), "bob,carol", "Team lunch", "Who is in?");
    await arrived("bob", id);
    const p = await page("bob", NARROW);
    await p.locator("tr", { hasText: "Team lunch" }).getByRole("link").click();
    await p.waitForURL(/\/messages\//);
    await ready(p);
    await p.getByRole("button", { name: "Reply All" }).click();
    await p.waitForURL(/\/compose\?replyall=/);
    await ready(p);
    expect(await p.getByLabel("To").inputValue()).toBe("alice, carol");
    expect(await p.getByLabel("Subject").inputValue()).toBe("Re: Team lunch");
    expect(await p.getByLabel("Message").inputValue()).toMatch(/^\n\nOn .*, alice wrote:\n> Who is in\?\n$/);
    await p.close();
  }, 60_000);

  test("Forward sends the stored attachments under their names, Fwd: once, without an upload", async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 3);
    const file = s.path("plan.bin");
    await Bun.write(file, bytes);
    const id = await sendMail(s.path("alice"), "bob", "Fwd: The plan", "See attached.", [file]);
    await arrived("bob", id);
    const p = await page("bob", NARROW);
    await p.locator("tr", { hasText: "The plan" }).getByRole("link").click();
    await p.waitForURL(/\/messages\//);
    await ready(p);
    await p.getByRole("button", { name: "Forward" }).click();
    await p.waitForURL(/\/compose\?forward=/);
    await ready(p);
    expect(await p.getByLabel("Subject").inputValue()).toBe("Fwd: The plan");
    expect(await p.getByLabel("To").inputValue()).toBe("");
    await p.getByRole("progressbar", { name: "Uploaded plan.bin" }).waitFor(); // there already: copied, not uploaded
    await p.locator("#to").fill("carol");
    await p.getByLabel("Message").press("Control+Home");
    await p.keyboard.type("For you.");
    await p.getByRole("button", { name: "Send", exact: true }).click();
    await p.locator("section.sent").waitFor();
    const got = await waitFor("carol to get the forward", async () => (await inbox(s.path("carol"))).find((m) => m.subject === "Fwd: The plan"), 30_000, 100);
    const full = JSON.parse(await ok(["show", got.id, "--data", s.path("carol"), "--json", "--save-attachments", s.path("carol-fwd")])) as { body: string };
    expect(full.body).toMatch(/^For you\.\n\nOn .*, alice wrote:\n> See attached\.\n$/);
    expect(sha(readFileSync(s.path("carol-fwd", "plan.bin")))).toBe(sha(bytes));
    await p.close();
  }, 90_000);
});

describe("drafts", () => {
  test("what is typed is saved within seconds even without a recipient, and on leaving; Drafts lists it, opening resumes it, sending removes it", async () => {
    const p = await page("alice");
    await open(p, c.alice!.url + "/compose");
    await p.getByLabel("Message").fill("Half a thought, no recipient yet.");
    // Saved by itself within a few seconds.
    await p.getByRole("status").filter({ hasText: /^Draft saved at / }).waitFor({ timeout: 8_000 });
    // Typed, then the page left at once: the leaving save keeps it.
    await p.getByLabel("Subject").fill("Plans — 计划");
    await p.getByRole("link", { name: "Drafts" }).click();
    await p.waitForURL(/\/drafts$/);
    await ready(p);
    const row = p.locator("tr", { hasText: "Plans — 计划" });
    await waitFor("the leaving save to be listed", async () => {
      if ((await row.count()) === 1) return true;
      await open(p, c.alice!.url + "/drafts");
      return undefined;
    }, 10_000, 200);
    expect(await p.locator("#list tbody tr").count()).toBe(1); // one draft, saved over, not two
    await shot(p, "drafts");
    await row.getByRole("link", { name: "Plans — 计划" }).click();
    await p.waitForURL(/\/compose\?draft=/);
    await ready(p);
    expect(await p.getByLabel("Subject").inputValue()).toBe("Plans — 计划");
    expect(await p.getByLabel("Message").inputValue()).toBe("Half a thought, no recipient yet.");
    await p.locator("#to").fill("bob");
    await p.getByRole("button", { name: "Send", exact: true }).click();
    await p.locator("section.sent").waitFor();
    await open(p, c.alice!.url + "/drafts");
    await p.getByText("No drafts.").waitFor();
    await waitFor("bob to get it", async () => (await inbox(s.path("bob"))).find((m) => m.subject === "Plans — 计划"), 30_000, 100);
    await p.close();
  }, 60_000);
});

describe("Print and Export .eml", () => {
  test("the print view shows the message alone; Export .eml downloads a file Python's email module reads", async () => {
    const subject = "Печать и экспорт — 打印";
    const id = await sendMail(s.path("alice"), "bob", subject, "Body for paper.");
    await arrived("bob", id);
    const p = await page("bob", NARROW);
    await open(p, `${c.bob!.url}/messages/${id}`);
    await p.getByRole("link", { name: "Print" }).click();
    await p.waitForURL(/\/print$/);
    await ready(p);
    expect(await p.locator("h1").textContent()).toBe(subject);
    expect(await p.locator(".body").textContent()).toBe("Body for paper.");
    expect(await p.getByRole("navigation", { name: "Folders" }).count()).toBe(0);
    await p.getByRole("button", { name: "Print" }).waitFor();
    await p.emulateMedia({ media: "print" });
    expect(await p.getByRole("button", { name: "Print" }).isVisible()).toBe(false);
    await shot(p, "print-view");
    await p.emulateMedia({ media: "screen" });

    await open(p, `${c.bob!.url}/messages/${id}`);
    const download = p.waitForEvent("download");
    await p.getByRole("link", { name: "Export .eml" }).click();
    const d = await download;
    expect(d.suggestedFilename()).toBe(`${id}.eml`);
    const r = spawnSync(["python3", join(import.meta.dir, "../support/read-mail.py"), "eml", (await d.path())!], { stdout: "pipe", stderr: "pipe" });
    const m = JSON.parse(r.stdout.toString()) as { subject: string; body: string; from: string };
    expect([m.subject, m.from, m.body.replaceAll("\r\n", "\n")]).toEqual([subject, "alice@smsg.invalid", "Body for paper."]);
    await p.close();
  }, 60_000);
});
