// Real Chromium for mailbox tests: Debian's /usr/bin/chromium driven by playwright-core,
// each context with a fresh profile. Screenshots go to test-artifacts/ to be looked at.

import { chromium, type BrowserContext, type Page } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, waitFor } from "./harness.ts";

export const ARTIFACTS = join(ROOT, "test-artifacts");

export class Browser {
  readonly ctx: BrowserContext;
  readonly #profile: string;
  /** Dialogs (alert, confirm, prompt) any page opened: an XSS would show up here. */
  readonly dialogs: string[] = [];
  readonly errors: string[] = [];

  private constructor(ctx: BrowserContext, profile: string) {
    this.ctx = ctx;
    this.#profile = profile;
  }

  static async launch(viewport = { width: 1280, height: 800 }): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), "smsg-chromium-"));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      viewport,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required"],
    });
    const b = new Browser(ctx, profile);
    ctx.on("page", (p) => b.#watch(p));
    for (const p of ctx.pages()) b.#watch(p);
    return b;
  }

  #watch(p: Page): void {
    p.on("dialog", (d) => {
      this.dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    p.on("pageerror", (e) => this.errors.push(e.message));
  }

  async page(): Promise<Page> {
    const p = this.ctx.pages()[0];
    return p && p.url() === "about:blank" ? p : this.ctx.newPage();
  }

  async close(): Promise<void> {
    await this.ctx.close();
    rmSync(this.#profile, { recursive: true, force: true });
  }
}

export async function unlock(page: Page, url: string, password: string): Promise<void> {
  await page.goto(url + "/unlock");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.waitForURL(/\/inbox$/);
  await ready(page);
}

/**
 * Submit a password the Unlock page must refuse, and wait for the refusal itself: the field
 * holds what was typed when Unlock is pressed (an empty one is never submitted: `required`),
 * and the POST /unlock answers 401 with the page that says why. A lost submission or another
 * answer fails here at once and says which, instead of an alert that never comes.
 */
export async function unlockRefused(page: Page, password: string, alert: string | RegExp): Promise<void> {
  const field = page.getByLabel("Password");
  await field.fill(password);
  if ((await field.inputValue()) !== password) throw new Error("the Password field lost what was typed before Unlock was pressed");
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/unlock"),
    page.getByRole("button", { name: "Unlock" }).click(),
  ]);
  if (res.status() !== 401) throw new Error(`POST /unlock answered ${res.status()}, not 401: ${(await res.text()).slice(0, 200)}`);
  await page.getByRole("alert").filter({ hasText: alert }).waitFor();
}

/**
 * The right password on an Unlock page that has just refused a wrong one: the next attempt
 * must wait (0.5 s after the first failure, CLIENT.md §2.6) and until then the page answers
 * 429 and says so, so submit until it is taken. Returns how many times it was told to wait.
 */
export async function unlockAfterRefusal(page: Page, password: string): Promise<number> {
  let refused = 0;
  await waitFor("the right password to be taken", async () => {
    await page.getByLabel("Password").fill(password);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/unlock"),
      page.getByRole("button", { name: "Unlock" }).click(),
    ]);
    if (res.status() === 429) {
      refused++;
      await page.getByRole("alert").filter({ hasText: "Too many wrong passwords: wait a few seconds and try again." }).waitFor();
      return undefined;
    }
    return res.status() === 303 || undefined;
  }, 10_000, 100);
  await page.waitForURL(/\/inbox$/);
  await ready(page);
  return refused;
}

/**
 * Wait until the page is in place: a navigation first gets a shell that fetches the page with
 * its token (CLIENT.md §2.5), or goes to the Unlock page.
 */
export async function ready(page: Page): Promise<void> {
  await page.waitForFunction(
    () => document.documentElement.dataset.ready === "1" || location.pathname === "/unlock" || !document.querySelector('script[src="/assets/session.js"]'),
  );
}

/** Go to a mailbox or admin page and wait until it is in place. */
export async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await ready(page);
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
