// The relay's admin page in a real Chromium: htmx runs under the strict CSP with
// no violation, Approve swaps in the pending list without a reload, and the connected users
// refresh by themselves.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Scratch, ok, passwordFile, register, startRelay, waitFor, type RelayHandle } from "../support/harness.ts";
import { Browser } from "../support/browser.ts";
import { RawClient } from "../support/raw-client.ts";
import { deriveUserKeys, encodeRegistrationCode } from "../../src/protocol/keys.ts";

const s = new Scratch();
let relay: RelayHandle;
let browser: Browser;
let adminBase: string;

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay"), extra: ["--admin", "127.0.0.1:0"] }));
  adminBase = (await relay.proc.line(/^admin: (http:\S+)$/))[1]!;
  browser = await Browser.launch();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await s.cleanup();
});

describe("admin page in a browser", () => {
  test("log in by the link, approve a pending registration, see users arrive", async () => {
    await ok(["ctrl", "--data", relay.dataDir, "users", "add", "yara"]);
    const yara = await deriveUserKeys("yara", "yara's password");
    expect((await RawClient.login("127.0.0.1", relay.port, "yara", yara.login)).status).toBe("auth-failed");
    await waitFor("the pending row", async () => (await ok(["ctrl", "--data", relay.dataDir, "users", "pending"])).includes("yara"));

    const page = await browser.page();
    const cspErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") cspErrors.push(m.text());
    });
    const link = (await relay.proc.line(/^admin login: (http:\S+)$/))[1]!;
    await page.goto(link);
    expect(new URL(page.url()).pathname).toBe("/");
    await page.getByRole("heading", { name: "smsg relay" }).waitFor();
    expect(await page.evaluate(() => typeof (globalThis as { htmx?: unknown }).htmx)).toBe("object");

    const row = page.locator("#pending-yara");
    await expect(row.locator("td.code").textContent()).resolves.toBe(encodeRegistrationCode(yara.login.publicKey));
    await row.getByRole("textbox").fill(encodeRegistrationCode(yara.login.publicKey)); // asked every time
    await row.getByRole("button", { name: "Approve" }).click();
    await page.getByText(`Approved yara with code ${encodeRegistrationCode(yara.login.publicKey)}.`).waitFor();
    expect(await page.locator("#pending-yara").count()).toBe(0);
    const users = JSON.parse(await ok(["ctrl", "--data", relay.dataDir, "users", "list", "--json"])) as { user: string; code: string | null }[];
    expect(users.find((u) => u.user === "yara")?.code).toBe(encodeRegistrationCode(yara.login.publicKey));

    // Connected users refresh every 5 s, without a reload.
    const pw = passwordFile(s.path("pw"), "zed", "zed's password");
    await register(relay.dataDir, "zed", pw);
    const zed = await deriveUserKeys("zed", "zed's password");
    const z = await RawClient.login("127.0.0.1", relay.port, "zed", zed.login);
    z.client.publish("zed", zed.identity.seed, zed.identity.publicKey);
    await page.locator("#online li", { hasText: "zed" }).waitFor({ timeout: 15_000 });
    expect(cspErrors).toEqual([]);
    expect(browser.errors).toEqual([]);
  }, 60_000);

  test("the cookie the browser sends to another local port approves nothing there", async () => {
    // Another local user's registration, and their server on another port of 127.0.0.1.
    await ok(["ctrl", "--data", relay.dataDir, "users", "add", "mallet"]);
    const mallet = await deriveUserKeys("mallet", "mallet's password");
    const code = encodeRegistrationCode(mallet.login.publicKey);
    expect((await RawClient.login("127.0.0.1", relay.port, "mallet", mallet.login)).status).toBe("auth-failed");
    const got: string[] = [];
    const evil = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => (got.push(req.headers.get("cookie") ?? ""), new Response("hello", { headers: { "content-type": "text/html" } })),
    });
    try {
      const page = await browser.page();
      await page.goto((await ok(["ctrl", "--data", relay.dataDir, "admin-login"])).trim());
      await page.locator("#pending-mallet").waitFor(); // logged in, the page in place
      await page.goto(`http://127.0.0.1:${evil.port}/`);
      const stolen = got.at(-1)!;
      expect(stolen).toMatch(/smsg_admin=[0-9a-f]{64}/); // the browser did hand it over
      const admin = new URL(adminBase);
      const replay = (path: string, init: RequestInit = {}) =>
        fetch(admin.origin + path, { ...init, headers: { cookie: stolen, origin: admin.origin, ...(init.headers as Record<string, string>) }, redirect: "manual" });
      const approve = await replay("/pending/mallet/approve", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "hx-request": "true" },
        body: new URLSearchParams({ code }),
      });
      expect(approve.status).toBe(401);
      const plain = await replay("/pending/mallet/approve", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ code }) });
      expect(plain.status).toBe(401);
      const pending = await replay("/fragments/pending", { headers: { "hx-request": "true" } });
      expect(pending.status).toBe(401);
      const shell = await (await replay("/")).text();
      expect(shell).not.toContain(code);
      expect(shell).not.toContain("mallet");
      const users = JSON.parse(await ok(["ctrl", "--data", relay.dataDir, "users", "list", "--json"])) as { user: string; code: string | null }[];
      expect(users.find((u) => u.user === "mallet")?.code).toBeNull();
      // The operator's own page still works.
      await page.goBack();
      await page.locator("#pending-mallet").waitFor();
    } finally {
      evil.stop(true);
    }
  }, 60_000);
});
