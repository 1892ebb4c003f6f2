/// <reference lib="dom" />
// The mailbox in a real Chromium: unlock, compose with connected users and an
// attachment, the live message window, reply, any script, XSS payloads, CSRF and Host
// refusals, and the identity-change warning. Real relay and client processes underneath.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { Browser, open, shot, unlock, unlockAfterRefusal, unlockRefused } from "../support/browser.ts";
import {
  Scratch,
  inbox,
  ok,
  outbox,
  passwordFile,
  register,
  sendMail,
  waitFor,
  type ClientHandle,
  type RelayHandle,
} from "../support/harness.ts";
import { startWorld, type World } from "../support/world.ts";

const s = new Scratch();
let w: World;
let relay: RelayHandle;
let browser: Browser;
/** Each user's password and running client (the world's). */
let password: Record<string, string>;
let c: Record<string, ClientHandle>;
let openerLog: string;

beforeAll(async () => {
  // The opener records what it was asked to open, and a copy of the file's bytes.
  openerLog = s.path("opened.log");
  const opener = s.path("opener.sh");
  writeFileSync(opener, `#!/bin/sh\nstat -c '%a' "$(dirname "$1")" >> '${openerLog}'\nstat -c '%a' "$1" >> '${openerLog}'\necho "$1" >> '${openerLog}'\ncat "$1" >> '${openerLog}'\necho >> '${openerLog}'\n`, { mode: 0o755 });
  w = await startWorld(s, { users: ["alice", "bob", "carol"], env: { alice: { SMSG_OPENER: opener } } });
  ({ relay, password, clients: c } = w);
  // Narrower than the reading pane's breakpoint: here a subject opens the message's own page
  // (the pane beside the list on a wide window is test/browser/mail-actions.test.ts's).
  browser = await Browser.launch({ width: 960, height: 800 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s.cleanup();
});

describe("unlock", () => {
  test("every browser session starts at Unlock; a wrong password says so; the right one opens the inbox", async () => {
    const page = await browser.page();
    await open(page, c.alice!.url + "/inbox");
    await page.waitForURL(/\/unlock$/);
    await shot(page, "unlock");
    await unlockRefused(page, "not the password", /^Wrong password\.$/);
    // A failure makes the next attempt wait; the right password is taken once it has passed.
    const refused = await unlockAfterRefusal(page, password.alice!);
    expect(refused).toBeLessThan(10); // the wait is half a second, not more
    await page.waitForURL(/\/inbox$/);
    expect(await page.locator("#conn").textContent()).toContain("Connected to");
    // Lock ends the session.
    await page.getByRole("button", { name: "Lock" }).click();
    await page.waitForURL(/\/unlock$/);
    await open(page, c.alice!.url + "/outbox");
    await page.waitForURL(/\/unlock$/);
    await page.close();
  });
});

describe("sending and receiving", () => {
  test("compose with Get Connected Users and an attachment (with progress); bob's message window appears live", async () => {
    const bobPage = await browser.ctx.newPage();
    await unlock(bobPage, c.bob!.url, password.bob!);
    // Make the message window come back quickly for this test.
    await open(bobPage, c.bob!.url + "/settings");
    await bobPage.getByLabel("A clicked message window comes back after (seconds)").fill("2");
    await bobPage.getByRole("button", { name: "Save" }).click();
    await bobPage.waitForURL(/saved=1/);
    await open(bobPage, c.bob!.url + "/inbox");

    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    await page.getByRole("button", { name: "Send Message" }).click();
    await page.waitForURL(/\/compose\??$/);
    // Required fields are named next to them.
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await expect(page.locator("#to-error").textContent()).resolves.toContain("To is required");
    expect(await page.locator("#subject-error").textContent()).toContain("Subject is required");
    expect(await page.locator("#body-error").textContent()).toContain("Message is required");

    await page.getByRole("button", { name: "Get Connected Users" }).click();
    await page.getByRole("button", { name: "bob", exact: true }).click();
    await page.getByRole("button", { name: "carol", exact: true }).click();
    expect(await page.getByLabel("To").inputValue()).toBe("bob, carol");
    await page.getByLabel("Subject").fill("Quarterly figures");
    await page.getByLabel("Message").fill("Hi both,\nthe figures are attached.\n-- A");
    const bytes = randomBytes(12 * 1024 * 1024);
    await page.getByLabel("Attachments").setInputFiles({ name: "figures.bin", mimeType: "application/octet-stream", buffer: bytes });
    await page.getByRole("progressbar", { name: "Uploading figures.bin" }).or(page.getByRole("progressbar", { name: "Uploaded figures.bin" })).waitFor();
    await page.getByRole("progressbar", { name: "Uploaded figures.bin" }).waitFor({ timeout: 30_000 });
    const bar = page.getByRole("progressbar", { name: "Uploaded figures.bin" });
    expect(await bar.evaluate((el: HTMLProgressElement) => el.value === el.max)).toBe(true);
    await shot(page, "compose");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.locator("section.sent").waitFor();
    expect(await page.locator("section.sent").textContent()).toContain("Sending to bob, carol.");
    await shot(page, "sent");

    // bob: the window appears without a reload, blinks while focused, hides on click, returns, X dismisses.
    await bobPage.bringToFront();
    const popup = bobPage.locator("#popup");
    await popup.waitFor({ state: "visible", timeout: 30_000 });
    expect(await bobPage.locator("#popup-from").textContent()).toBe("From alice");
    expect(await bobPage.locator("#popup-subject").textContent()).toBe("Quarterly figures");
    expect(await bobPage.title()).toBe("(1) Inbox — smsg");
    await bobPage.waitForFunction(() => document.querySelector("#popup")!.classList.contains("blink") === document.hasFocus());
    await shot(bobPage, "new-message-window");
    // The list refreshed too: the message is there, in bold.
    await bobPage.locator("tr.unread", { hasText: "Quarterly figures" }).waitFor();
    const clickedAt = Date.now();
    await bobPage.locator("#popup-body").click();
    await popup.waitFor({ state: "hidden" });
    const returnAt = Number(await popup.getAttribute("data-return-at"));
    expect(returnAt - clickedAt).toBeGreaterThanOrEqual(2000); // the configured 2 s
    expect(returnAt - clickedAt).toBeLessThan(4000);
    await popup.waitFor({ state: "visible", timeout: 10_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(returnAt - 50);
    await bobPage.getByRole("button", { name: "Close" }).click();
    await popup.waitFor({ state: "hidden" });
    // Dismissed for good: no return is scheduled.
    expect(await popup.getAttribute("data-return-at")).toBeNull();

    // The attachment arrived intact: bob saves it from the message page.
    await bobPage.locator("a", { hasText: "Quarterly figures" }).click();
    await bobPage.waitForURL(/\/messages\//);
    expect(await bobPage.locator(".body").textContent()).toBe("Hi both,\nthe figures are attached.\n-- A");
    const download = bobPage.waitForEvent("download");
    await bobPage.getByRole("link", { name: "Save" }).click();
    const d = await download;
    expect(d.suggestedFilename()).toBe("figures.bin");
    expect(Buffer.compare(readFileSync((await d.path())!), bytes)).toBe(0);
    await shot(bobPage, "message");
    await page.close();
    await bobPage.close();
  }, 120_000);

  test("Reply is top-posted with a single Re:", async () => {
    await sendMail(s.path("alice"), "bob", "Re: re: Lunch?", "Are you free at noon?\nPizza place.");
    const page = await browser.ctx.newPage();
    await unlock(page, c.bob!.url, password.bob!);
    await page.locator("a", { hasText: "Lunch?" }).first().click();
    await page.getByRole("button", { name: "Reply", exact: true }).click();
    await page.waitForURL(/\/compose\?reply=/);
    expect(await page.getByLabel("To").inputValue()).toBe("alice");
    expect(await page.getByLabel("Subject").inputValue()).toBe("Re: Lunch?");
    const text = await page.getByLabel("Message").inputValue();
    expect(text).toMatch(/^\n\nOn \d{4}-\d\d-\d\d \d\d:\d\d, alice wrote:\n> Are you free at noon\?\n> Pizza place\.\n$/);
    // The cursor waits at the empty top.
    expect(await page.getByLabel("Message").evaluate((t: HTMLTextAreaElement) => [t.selectionStart, document.activeElement === t])).toEqual([0, true]);
    await page.getByLabel("Message").press("Control+Home");
    await page.keyboard.type("Yes!");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.locator("section.sent").waitFor();
    const got = await waitFor("alice to get the reply", async () => (await inbox(s.path("alice"))).find((m) => m.subject === "Re: Lunch?"));
    const full = JSON.parse(await ok(["show", got.id, "--data", s.path("alice"), "--json"])) as { body: string };
    expect(full.body.startsWith("Yes!\n\nOn ")).toBe(true);
    await page.close();
  }, 60_000);

  test("a refusal shows beside the field it belongs to, whatever words it contains", async () => {
    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    await open(page, c.alice!.url + "/compose");
    const send = async (to: string) => {
      // By id: the attachment's progress bar below is labelled with a name containing "To".
      await page.locator("#to").fill(to);
      await page.locator("#subject").fill("Today");
      await page.locator("#body").fill("Text");
      await page.getByRole("button", { name: "Send", exact: true }).click();
    };
    // The relay does not know this user: To's, though the sentence says neither "To" nor "user id".
    await send("nobody-here");
    await expect(page.locator("#to-error").textContent()).resolves.toContain("unknown recipient");
    expect(await page.locator("#form-error").count()).toBe(0);
    // An attachment whose name is refused belongs to the form as a whole, even when the name
    // (and so the sentence) contains "To" or "text".
    await page.getByLabel("Attachments").setInputFiles({ name: "To do\u202etxt.exe", mimeType: "text/plain", buffer: Buffer.from("x") });
    await page.getByRole("progressbar", { name: /^Uploaded / }).waitFor({ timeout: 30_000 });
    await send("bob");
    await expect(page.locator("#form-error").textContent()).resolves.toContain("attachment name must be");
    expect(await page.locator("#to-error").count()).toBe(0);
    expect(await page.locator("#body-error").count()).toBe(0);
    await page.close();
  }, 60_000);

  test("Chinese, Arabic and emoji show correctly in the list, the message and the form", async () => {
    const subject = "你好 مرحبا 🎉";
    const body = "第一行\nالسطر الثاني — نص عربي\n👩‍💻";
    await sendMail(s.path("bob"), "alice", subject, body);
    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    const row = page.locator("tr", { hasText: subject });
    await row.waitFor();
    await shot(page, "inbox-scripts");
    await row.locator("a").click();
    expect(await page.locator("h1").textContent()).toBe(subject);
    expect(await page.locator(".body").textContent()).toBe(body);
    expect(await page.locator(".body").getAttribute("dir")).toBe("auto");
    // Right-to-left text is laid out right to left.
    expect(await page.locator(".body").evaluate((el) => getComputedStyle(el).direction)).toBe("ltr"); // first strong char is Chinese
    await shot(page, "message-scripts");
    // Search runs as you type (htmx), in memory, in any script.
    await open(page, c.alice!.url + "/inbox");
    const before = await page.locator("#list tbody tr").count();
    expect(before).toBeGreaterThan(1);
    await page.getByLabel("Search").fill("السطر");
    await page.waitForFunction(() => document.querySelectorAll("#list tbody tr").length === 1);
    expect(await page.locator("#list tbody tr").textContent()).toContain(subject);
    await page.getByLabel("Search").fill("no such words anywhere");
    await page.locator("#list .empty").waitFor();
    await open(page, c.alice!.url + "/compose");
    await page.getByLabel("Subject").fill("مرحبا بالعالم");
    expect(await page.getByLabel("Subject").evaluate((el) => getComputedStyle(el).direction)).toBe("rtl");
    // A narrow window: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 800 });
    await open(page, c.alice!.url + "/inbox");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(page, "inbox-narrow");
    await page.close();
  }, 60_000);
});

describe("markup is text", () => {
  const payloads = [
    `<script>alert("s1")</script>`,
    `<img src=x onerror=alert("s2")>`,
    `"><svg onload=alert("s3")>`,
    `<a href="javascript:alert('s4')">click</a>`,
    `{{constructor.constructor('alert(5)')()}}`,
    `<iframe src="javascript:alert('s6')"></iframe>`,
  ];

  test("XSS payloads in subject, body and file name open no dialog and show literally", async () => {
    const file = s.path(`<img src=x onerror=alert(7)>.txt`);
    writeFileSync(file, "<script>alert('content')</script>");
    const subject = payloads.join(" ");
    const body = payloads.join("\n");
    const id = await sendMail(s.path("bob"), "alice", subject, body, [file]);
    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    await page.locator("tr", { hasText: "alert(\"s1\")" }).waitFor();
    await open(page, `${c.alice!.url}/messages/${id}`);
    expect(await page.locator("h1").textContent()).toBe(subject);
    expect(await page.locator(".body").textContent()).toBe(body);
    expect(await page.locator(".attachments .name").textContent()).toBe("<img src=x onerror=alert(7)>.txt");
    await page.locator("#popup").evaluate(() => undefined); // the page is live
    await shot(page, "xss");
    expect(await page.locator("script:not([src])").count()).toBe(0);
    expect(await page.locator("img, svg, iframe").count()).toBe(0);
    // The attachment is served as a download, never rendered.
    const save = await page.getByRole("link", { name: "Save" }).getAttribute("href");
    expect(save).toMatch(new RegExp(`^/messages/${id}/attachments/0\\?dl=[\\w-]{43}$`)); // signed for this session
    const res = await page.request.get(`${c.alice!.url}${save}`);
    expect(res.headers()["content-disposition"]).toStartWith("attachment;");
    expect(res.headers()["x-content-type-options"]).toBe("nosniff");
    expect(res.headers()["content-type"]).toBe("application/octet-stream");
    expect(res.headers()["content-security-policy"]).toBe("default-src 'none'; sandbox");
    expect(browser.dialogs).toEqual([]);
    expect(browser.errors).toEqual([]);
    await page.close();
  }, 60_000);
});

describe("a page on loopback defends itself", () => {
  test("a cross-origin POST and a foreign Host are refused", async () => {
    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    // An attacker's page on another origin posts a form to the mailbox: refused (and the
    // SameSite=Strict cookie does not even go with it).
    const evil = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response(
          `<form id=f method=post action="${c.alice!.url}/send"><input name=to value=bob><input name=subject value=x><input name=body value=y></form>` +
            `<form id=g method=post action="${c.alice!.url}/lock"></form>`,
          { headers: { "content-type": "text/html" } },
        ),
    });
    try {
      const before = (await outbox(s.path("alice"))).length;
      const evilPage = await browser.ctx.newPage();
      await evilPage.goto(`http://127.0.0.1:${evil.port}/`);
      const [res] = await Promise.all([evilPage.waitForResponse(() => true), evilPage.locator("#f").evaluate((f: HTMLFormElement) => f.submit())]);
      expect(res.status()).toBe(403);
      expect((await outbox(s.path("alice"))).length).toBe(before);
      await evilPage.close();
    } finally {
      evil.stop(true);
    }
    // The session survived: nothing was locked or sent.
    await open(page, c.alice!.url + "/outbox");
    expect(page.url()).toEndWith("/outbox");
    // A foreign Host (DNS rebinding) is refused before anything else.
    const url = new URL(c.alice!.url);
    const r = await fetch(`${c.alice!.url}/unlock`, { headers: { host: `evil.example:${url.port}` } });
    expect(r.status).toBe(421);
    // And the security headers are there.
    const h = await fetch(`${c.alice!.url}/unlock`);
    expect(h.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(h.headers.get("content-security-policy")).not.toContain("unsafe-inline");
    expect(h.headers.get("x-frame-options")).toBe("SAMEORIGIN");
    await page.close();
  }, 60_000);

  test("the cookie the browser sends to another local port reads and sends nothing there", async () => {
    const subject = `secret subject ${randomBytes(3).toString("hex")}`;
    const file = s.path("secret.txt");
    writeFileSync(file, "secret contents");
    const id = await sendMail(s.path("bob"), "alice", subject, "for alice only", [file]);
    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    await page.locator("tr", { hasText: subject }).waitFor();
    // Another local user's server on another port of 127.0.0.1 collects what the browser sends.
    const got: string[] = [];
    const evil = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => (got.push(req.headers.get("cookie") ?? ""), new Response("hello", { headers: { "content-type": "text/html" } })),
    });
    try {
      await page.goto(`http://127.0.0.1:${evil.port}/`);
      const stolen = got.at(-1)!;
      const origin = c.alice!.url;
      expect(stolen).toContain(`smsg_session_${new URL(origin).port}=`); // the browser did hand it over
      const replay = (path: string, init: RequestInit = {}) =>
        fetch(origin + path, { ...init, headers: { cookie: stolen, origin, ...(init.headers as Record<string, string>) }, redirect: "manual" });
      const list = await replay("/inbox");
      expect(list.status).toBe(200);
      const shell = await list.text();
      expect(shell).toContain("data-shell"); // the page without data, nothing more
      expect(shell).not.toContain(subject);
      expect(shell).not.toContain("bob");
      expect((await replay("/inbox", { headers: { "hx-request": "true" } })).status).toBe(401);
      const guessed = await replay(`/messages/${id}`, { headers: { "x-smsg-token": "guess" } });
      expect([guessed.status, guessed.headers.get("location")]).toEqual([303, "/unlock"]);
      const download = await replay(`/messages/${id}/attachments/0`);
      expect([download.status, download.headers.get("location")]).toEqual([303, "/unlock"]);
      expect((await replay("/events")).status).toBe(401);
      const before = (await outbox(s.path("alice"))).length;
      const form = { to: "bob", subject: "sent by another port", body: "x" };
      const sent = await replay("/send", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) });
      expect(sent.status).toBe(401);
      expect((await outbox(s.path("alice"))).length).toBe(before);
      // Unread, still: the message was never shown to anyone.
      expect((await inbox(s.path("alice"))).find((m) => m.id === id)?.flags).toContain("U");
      // The owner's page still works.
      await open(page, origin + "/inbox");
      await page.locator("tr", { hasText: subject }).waitFor();
    } finally {
      evil.stop(true);
    }
    await page.close();
  }, 60_000);

  test("Open hands an owner-only decrypted copy to the default program; Save downloads", async () => {
    const file = s.path("report.txt");
    writeFileSync(file, "the report's contents");
    const id = await sendMail(s.path("bob"), "alice", "report", "attached", [file]);
    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    await page.locator("tr", { hasText: "report" }).first().waitFor();
    await open(page, `${c.alice!.url}/messages/${id}`);
    await page.getByRole("button", { name: "Open" }).click();
    await expect(page.getByRole("status").filter({ hasText: "Opened" }).textContent()).resolves.toContain("Opened report.txt");
    const log = await waitFor("the opener to run", () => (existsSync(openerLog) && readFileSync(openerLog, "utf8").includes("the report's contents") ? readFileSync(openerLog, "utf8") : undefined));
    const [dirMode, fileMode, path] = log.trim().split("\n");
    expect(dirMode).toBe("700");
    expect(fileMode).toBe("600");
    expect(path).toEndWith("/report.txt");
    expect(statSync(dirname(path!)).isDirectory()).toBe(true);
    await page.close();
  }, 60_000);
});

describe("trust", () => {
  test("a changed identity shows a warning with Accept; Accept adopts the key shown or nothing; held mail goes after Accept", async () => {
    // alice pins carol, then carol starts over with a new password (a new identity key).
    const first = await sendMail(s.path("alice"), "carol", "hello carol", "pin");
    await waitFor("S", async () => (await outbox(s.path("alice"))).find((m) => m.id === first && m.flags === "S"));
    await c.carol!.stop();
    const startOver = async (dir: string, password: string): Promise<ClientHandle> => {
      const file = passwordFile(s.path(dir), "carol", password);
      await ok(["ctrl", "--data", relay.dataDir, "users", "remove", "carol"]);
      await register(relay.dataDir, "carol", file);
      return w.start("carol", { dataDir: s.path(dir), passwordFile: file });
    };
    const carolNew = await startOver("carol-new", "carol's new password");
    const held = await sendMail(s.path("alice"), "carol", "are you really carol?", "held until accepted");
    await waitFor("H", async () => (await outbox(s.path("alice"))).find((m) => m.id === held && m.flags === "H"));

    const page = await browser.ctx.newPage();
    await unlock(page, c.alice!.url, password.alice!);
    await open(page, c.alice!.url + "/contacts");
    const warning = page.getByRole("alert").filter({ hasText: "identity key changed" });
    await warning.waitFor();
    expect(await warning.textContent()).toContain("Messages to carol are held");
    expect(await page.locator("li.changed .safety").count()).toBe(2); // the pinned and the new safety number
    await shot(page, "contacts-identity-changed");
    const shownKey = await page.locator('form[action="/contacts/carol/accept"] input[name="key"]').inputValue();
    const contactsOf = async () => (JSON.parse(await ok(["contacts", "--data", s.path("alice"), "--json"])) as { user: string; newIdentity: string | null }[]).find((x) => x.user === "carol")!;
    expect(shownKey).toBe((await contactsOf()).newIdentity!);

    // While the page is open, carol's key changes once more: the page's Accept is for the old one.
    await carolNew.stop();
    await startOver("carol-newer", "carol's newer password");
    const again = await sendMail(s.path("alice"), "carol", "and now?", "held too");
    await waitFor("the newer key pending", async () => ((await contactsOf()).newIdentity !== shownKey ? true : undefined));
    await page.getByRole("button", { name: "Accept" }).click();
    await page.getByRole("alert").filter({ hasText: "Not accepted: the key changed again; check the new safety number." }).waitFor();
    expect((await outbox(s.path("alice"))).filter((m) => m.id === held || m.id === again).map((m) => m.flags)).toEqual(["H", "H"]);

    // The page shown now has the newer key: Accept takes it.
    await open(page, c.alice!.url + "/contacts");
    expect(await page.locator('form[action="/contacts/carol/accept"] input[name="key"]').inputValue()).toBe((await contactsOf()).newIdentity!);
    await page.getByRole("button", { name: "Accept" }).click();
    await page.waitForURL(/\/contacts$/);
    expect(await page.getByRole("alert").filter({ hasText: "identity key changed" }).count()).toBe(0);
    await waitFor("S after accept", async () => (await outbox(s.path("alice"))).find((m) => m.id === held && m.flags === "S"));
    expect((await inbox(s.path("carol-newer"))).some((m) => m.id === held)).toBe(true);
    await page.close();
  }, 120_000);
});

describe("what the page does by itself", () => {
  test("mail arriving keeps refreshing the list, yet the session locks after the idle time", async () => {
    const page = await browser.ctx.newPage();
    await unlock(page, c.bob!.url, password.bob!);
    await open(page, c.bob!.url + "/settings");
    await page.getByLabel("Lock the mailbox after this many idle minutes").fill("1");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/saved=1/);
    await open(page, c.bob!.url + "/inbox");
    const lastUse = Date.now(); // nothing below is a person's use of the page
    const refreshed: number[] = [];
    let n = 0;
    while (!page.url().endsWith("/unlock") && Date.now() - lastUse < 110_000) {
      const subject = `tick ${++n} ${randomBytes(2).toString("hex")}`;
      await sendMail(s.path("alice"), "bob", subject, "keeps coming");
      const seen = await waitFor(
        `${subject} in the list, or the lock`,
        async () => (page.url().endsWith("/unlock") ? "locked" : (await page.locator("#list tr", { hasText: subject }).count()) > 0 ? "listed" : undefined),
        20_000,
        100,
      );
      if (seen === "listed") refreshed.push(Date.now() - lastUse);
      else break;
      await waitFor("a few seconds between messages", () => (Date.now() - lastUse > refreshed.length * 8_000 ? true : undefined), 10_000, 100);
    }
    await page.waitForURL(/\/unlock$/, { timeout: 20_000 });
    const lockedAfter = Date.now() - lastUse;
    expect(refreshed.length).toBeGreaterThanOrEqual(5); // the list kept refreshing itself...
    expect(refreshed.at(-1)!).toBeGreaterThan(45_000); // ...until shortly before the lock
    expect(lockedAfter).toBeGreaterThanOrEqual(60_000); // and the lock came with the idle minute,
    expect(lockedAfter).toBeLessThan(80_000); // not pushed back by the refreshes
    // Put the idle time back for the other tests.
    await unlock(page, c.bob!.url, password.bob!);
    await open(page, c.bob!.url + "/settings");
    await page.getByLabel("Lock the mailbox after this many idle minutes").fill("15");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/saved=1/);
    await page.close();
  }, 180_000);

  test("a system notification says only \"New mail\" unless Settings ask for the sender and subject", async () => {
    await browser.ctx.grantPermissions(["notifications"], { origin: c.alice!.url });
    const page = await browser.ctx.newPage();
    // Record what the page asks the system to show (the real Notification still runs). Headless
    // Chromium reports every page as focused, and the page notifies only in the background.
    await page.addInitScript(() => {
      document.hasFocus = () => false;
      const Real = window.Notification;
      const shown: [string, string | undefined][] = [];
      (window as unknown as { shown: typeof shown }).shown = shown;
      window.Notification = class extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options);
          shown.push([title, options?.body]);
        }
      } as typeof Notification;
    });
    await unlock(page, c.alice!.url, password.alice!);
    const shown = () => page.evaluate(() => (window as unknown as { shown: [string, string | undefined][] }).shown);
    await sendMail(s.path("bob"), "alice", "a private subject", "x");
    await waitFor("a notification", async () => ((await shown()).length === 1 ? true : undefined));
    expect(await shown()).toEqual([["New mail", undefined]]);

    await open(page, c.alice!.url + "/settings");
    const details = page.getByLabel("Show the sender and subject in system notifications");
    expect(await details.isChecked()).toBe(false); // the default
    await details.check();
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/saved=1/);
    await open(page, c.alice!.url + "/inbox");
    await sendMail(s.path("bob"), "alice", "a subject shown", "y");
    await waitFor("a notification", async () => ((await shown()).length === 1 ? true : undefined));
    expect(await shown()).toEqual([["smsg: message from bob", "a subject shown"]]);
    await page.close();
  }, 60_000);
});
