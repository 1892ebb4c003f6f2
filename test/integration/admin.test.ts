// The relay's admin page on a real relay process: one-time login links and the
// session cookie, the Host check, csrf, the CSP and self-served htmx; connected users,
// pending registrations approved with the same rule as `ctrl users approve`, the log tail.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT, Scratch, ok, passwordFile, register, startRelay, waitFor, type RelayHandle } from "../support/harness.ts";
import { RawClient } from "../support/raw-client.ts";
import { deriveUserKeys, encodeRegistrationCode } from "../../src/protocol/keys.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";

const s = new Scratch();
let relay: RelayHandle;
let base: string;
let cookie: string;
let token: string; // the page token, which only this port's pages hold

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay"), extra: ["--admin", "127.0.0.1:0"] }));
  base = (await relay.proc.line(/^admin: (http:\S+)$/))[1]!;
}, 60_000);
afterAll(() => s.cleanup());

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(base + path, { headers: { cookie, "x-smsg-token": token, ...headers }, redirect: "manual" });
const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(base + path, {
    method: "POST",
    body: new URLSearchParams(form),
    headers: { cookie, "x-smsg-token": token, origin: base, "content-type": "application/x-www-form-urlencoded", ...headers },
    redirect: "manual",
  });
const usersList = async () => JSON.parse(await ok(["ctrl", "--data", relay.dataDir, "users", "list", "--json"])) as { user: string; code: string | null }[];

describe("admin page", () => {
  test("a one-time login link gives an HttpOnly SameSite=Strict cookie; without it, 401", async () => {
    const link = (await relay.proc.line(/^admin login: (http:\S+)$/))[1]!;
    expect(link.startsWith(`${base}/login?token=`)).toBe(true);
    const anon = await fetch(base + "/", { redirect: "manual" });
    expect(anon.status).toBe(401);
    expect(await anon.text()).toContain("not logged in");
    const r = await fetch(link, { redirect: "manual" });
    expect(r.status).toBe(303);
    const set = r.headers.get("set-cookie") ?? "";
    expect(set).toMatch(/^smsg_admin=[0-9a-f]{64};/);
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    cookie = set.split(";")[0]!;
    // The page token comes in the fragment of the redirect: no request ever carries it back.
    const to = r.headers.get("location") ?? "";
    expect(to).toMatch(/^\/#t=[\w-]{43}$/);
    token = to.slice("/#t=".length);
    // The cookie alone gets a shell without data; a wrong token gets nothing.
    const shell = await fetch(base + "/", { headers: { cookie } });
    expect(shell.status).toBe(200);
    const html = await shell.text();
    expect(html).toContain("data-shell");
    expect(html).not.toContain(relay.key);
    expect((await fetch(base + "/fragments/status", { headers: { cookie, "hx-request": "true" } })).status).toBe(401);
    expect((await fetch(base + "/", { headers: { cookie, "x-smsg-token": "x".repeat(43) } })).status).toBe(401);
    expect((await fetch(link, { redirect: "manual" })).status).toBe(401); // one time only
    // ctrl admin-login makes another, for the running relay.
    const fresh = (await ok(["ctrl", "--data", relay.dataDir, "admin-login"])).trim();
    expect(fresh.startsWith(`${base}/login?token=`)).toBe(true);
    expect((await fetch(fresh, { redirect: "manual" })).status).toBe(303);
  });

  test("the page: strict CSP, no inline script, htmx served by the relay, foreign Host refused", async () => {
    const r = await get("/");
    expect(r.status).toBe(200);
    const csp = r.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe");
    const html = await r.text();
    expect(html).toContain(relay.key);
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => m[1])).toEqual([' src="/assets/htmx.min.js" defer=""', ' src="/assets/session.js" defer=""']);
    expect(scripts.every((m) => m[2] === "")).toBe(true);
    const htmx = await get("/assets/htmx.min.js");
    expect(htmx.headers.get("content-type")).toContain("javascript");
    expect(await htmx.text()).toBe(await Bun.file(join(ROOT, "node_modules/htmx.org/dist/htmx.min.js")).text());
    const port = new URL(base).port;
    expect((await get("/", { host: `evil.example:${port}` })).status).toBe(421);
    expect((await get("/", { host: `localhost:${port}` })).status).toBe(200);
  });

  test("connected users and the log tail", async () => {
    const pw = passwordFile(s.path("pw"), "vera", "vera's password");
    await register(relay.dataDir, "vera", pw);
    const vera = await deriveUserKeys("vera", "vera's password");
    const v = await RawClient.login("127.0.0.1", relay.port, "vera", vera.login);
    v.client.publish("vera", vera.identity.seed, vera.identity.publicKey);
    // Routable once the relay has read the published key.
    const status = await waitFor("vera in the connected users", async () => {
      const t = await (await get("/fragments/status")).text();
      return t.includes("<li>vera</li>") ? t : undefined;
    });
    expect(status).toMatch(/<b>1<\/b> connected users/);
    const log = await (await get("/fragments/log")).text();
    expect(log).toContain("info login user=vera addr=127.0.0.1");
    expect(log).toContain(`relay-${new Date().toISOString().slice(0, 10)}.log`);
  });

  test("Approve: always needs the code; replacing a code needs the new one; cross-site posts refused", async () => {
    await ok(["ctrl", "--data", relay.dataDir, "users", "add", "tess"]);
    const tess = await deriveUserKeys("tess", "tess's password");
    expect((await RawClient.login("127.0.0.1", relay.port, "tess", tess.login)).status).toBe("auth-failed");
    const code = encodeRegistrationCode(tess.login.publicKey);
    const page = await (await get("/fragments/pending")).text();
    expect(page).toContain(code);
    expect(page).toContain('hx-post="/pending/tess/approve"');

    const forged = await post("/pending/tess/approve", {}, { origin: "http://evil.example" });
    expect(forged.status).toBe(403);
    expect((await usersList()).find((u) => u.user === "tess")?.code).toBeNull();

    // Even a first registration needs the code typed again (the page shows the code presented).
    const blind = await post("/pending/tess/approve", {}, { "hx-request": "true" });
    expect(blind.status).toBe(422);
    expect(await blind.text()).toContain("type the registration code tess sent you to approve them");
    expect((await usersList()).find((u) => u.user === "tess")?.code).toBeNull();
    const approved = await post("/pending/tess/approve", { code }, { "hx-request": "true" });
    expect(approved.status).toBe(200);
    expect(await approved.text()).toContain(`Approved tess with code ${code}`);
    expect((await usersList()).find((u) => u.user === "tess")?.code).toBe(code);

    // Someone else's key as tess's pending login: replacing her code needs the code.
    const other = x25519Generate();
    expect((await RawClient.login("127.0.0.1", relay.port, "tess", other)).status).toBe("auth-failed");
    const otherCode = encodeRegistrationCode(other.publicKey);
    const refused = await post("/pending/tess/approve", {}, { "hx-request": "true" });
    expect(refused.status).toBe(422);
    const mismatch = await post("/pending/tess/approve", { code: encodeRegistrationCode(x25519Generate().publicKey) }, { "hx-request": "true" });
    expect(await mismatch.text()).toContain("not the one given: not approved");
    expect((await usersList()).find((u) => u.user === "tess")?.code).toBe(code);
    const replaced = await post("/pending/tess/approve", { code: otherCode }, { "hx-request": "true" });
    expect(replaced.status).toBe(200);
    expect((await usersList()).find((u) => u.user === "tess")?.code).toBe(otherCode);
  });
});
