// The relay's admin page (README "Admin page", SECURITY.md §12): connected users, pending
// registrations with Approve, and the tail of today's log, on a loopback port. Behind its own
// login: one-time links (hashed in relay.db, so `ctrl admin-login` can make one) give a
// session: an HttpOnly SameSite=Strict cookie AND a page token that only this port's pages
// hold (the browser sends the cookie to every port of the host). Host check, csrf, an exact
// Origin check and a strict CSP as the mailbox (SPEC.md §8.5).

import { Hono, type Context } from "hono";
import { csrf } from "hono/csrf";
import { getCookie, setCookie } from "hono/cookie";
import { pageHeaders } from "../net/page-headers.ts";
import { randomBytes } from "node:crypto";
import { ApprovalError, readRegistrationCode, type Directory } from "./directory.ts";
import type { RelayCore } from "./relay-core.ts";
import type { Log } from "./log.ts";
import { tailFile } from "./daily-log.ts";
import { formatBytes } from "./terminal-status.ts";
import { encodeRegistrationCode } from "../protocol/keys.ts";
import { sha256 } from "../protocol/primitives.ts";
import { AdminPage, AdminShell, LoginNeededPage } from "../views/admin/admin-page.tsx";
import { LogPanel, PendingPanel, StatusPanel, type PendingProps } from "../views/admin/admin-fragments.tsx";
import { ADMIN_ASSETS } from "../views/admin/assets.ts";

export const ADMIN_COOKIE = "smsg_admin";
const SESSION_IDLE_MS = 3600_000;
const SESSION_MAX_MS = 8 * 3600_000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const FORM = /^(application\/x-www-form-urlencoded|multipart\/form-data)/;
const LOG_TAIL_LINES = 200;

/** A one-time admin login token (hex), stored as its SHA-256 until used or expired. */
export function createAdminLogin(d: Directory, now: number, ttlMs: number): string {
  const token = randomBytes(32);
  d.putAdminLogin(sha256(token), now, now + ttlMs);
  return token.toString("hex");
}

function redeemAdminLogin(d: Directory, token: string, now: number): boolean {
  if (!/^[0-9a-f]{64}$/.test(token)) return false;
  return d.takeAdminLogin(sha256(Buffer.from(token, "hex")), now);
}

export function adminHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

export interface AdminDeps {
  core: RelayCore;
  log: Log;
  relayKey: string;
  listen: string[];
  /** Today's log file. */
  logFile: () => string;
  startedAt: number;
}

export function adminApp(deps: AdminDeps, hosts: () => Set<string>): Hono {
  const { core } = deps;
  const d = core.directory;
  // sha256(cookie) hex -> the page token's hash, creation and last use
  const sessions = new Map<string, { token: string; created: number; last: number }>();
  const app = new Hono();

  app.use("*", async (c, next) => {
    if (!hosts().has(c.req.header("host") ?? "")) return c.text("foreign Host header refused", 421);
    await next();
    return undefined;
  });
  app.use("*", pageHeaders());
  app.use("*", csrf());
  // Exactly this origin, port included, for anything that can change something.
  app.use("*", async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method) && c.req.header("origin") !== `http://${c.req.header("host")}`) return c.text("Forbidden", 403);
    await next();
    return undefined;
  });

  app.get("/assets/:name", (c) => {
    const a = ADMIN_ASSETS[c.req.param("name")];
    if (!a) return c.notFound();
    return new Response(Bun.file(a.path), { headers: { "content-type": a.type, "cache-control": "no-cache" } });
  });

  app.get("/favicon.ico", (c) => c.body(null, 204)); // browsers ask; there is none

  app.get("/login", (c) => {
    if (!redeemAdminLogin(d, c.req.query("token") ?? "", core.now())) {
      deps.log.warn("admin-login-failed", {});
      return c.html(LoginNeededPage({ reason: "This login link is not valid: it was used already, or it expired." }), 401);
    }
    const cookie = randomBytes(32).toString("hex");
    const token = randomBytes(32).toString("base64url");
    const now = core.now();
    sessions.set(hashHex(cookie), { token: hashHex(token), created: now, last: now });
    deps.log.info("admin-login", {});
    setCookie(c, ADMIN_COOKIE, cookie, { httpOnly: true, sameSite: "Strict", path: "/" });
    // The token reaches the page in the fragment, which no request carries (session.js).
    return c.redirect(`/#t=${token}`, 303);
  });

  app.use("*", async (c, next) => {
    const cookie = getCookie(c, ADMIN_COOKIE);
    const key = cookie ? hashHex(cookie) : "";
    const s = sessions.get(key);
    const now = core.now();
    if (!s || now - s.last > SESSION_IDLE_MS || now - s.created > SESSION_MAX_MS) {
      sessions.delete(key);
      return c.html(LoginNeededPage({ reason: "You are not logged in to this relay's admin page." }), 401);
    }
    const token = await pageToken(c);
    if (!token || hashHex(token) !== s.token) {
      // A navigation cannot carry the token: a shell without data, whose script fetches the
      // page with it. Another port that collected the cookie gets no more than this.
      if (c.req.method === "GET" && !c.req.header("hx-request") && !c.req.header(TOKEN_HEADER)) return c.html(AdminShell());
      return c.html(LoginNeededPage({ reason: "This page's session is not valid here: open a new login link." }), 401);
    }
    // The panels' own refreshes every 5 s are not the operator's use (else it never idles out).
    if (c.req.header("x-smsg-auto") !== "1") s.last = now;
    await next();
    return undefined;
  });

  const status = () => {
    const s = core.stats;
    return {
      online: core.hub.online(),
      connections: core.sessions.size,
      transfers: core.transfers,
      messages: s.messages,
      bytes: formatBytes(s.bytes),
      logins: s.logins,
      failedLogins: s.failedLogins,
      pending: d.pendingCount(),
    };
  };
  const pending = (notice?: PendingProps["notice"]): PendingProps => ({
    items: d.pending().map((p) => ({
      user: p.user,
      code: encodeRegistrationCode(p.code),
      address: p.address,
      time: new Date(p.time).toISOString(),
      hasCode: d.get(p.user)?.code != null,
    })),
    notice,
  });
  const log = () => ({ file: deps.logFile(), lines: tailFile(deps.logFile(), LOG_TAIL_LINES) });
  const page = (c: Context, notice?: PendingProps["notice"]) =>
    c.html(AdminPage({ relayKey: deps.relayKey, listen: deps.listen, status: status(), pending: pending(notice), log: log() }));

  app.get("/", (c) => page(c));
  app.get("/fragments/status", (c) => c.html(StatusPanel(status())));
  app.get("/fragments/pending", (c) => c.html(PendingPanel(pending())));
  app.get("/fragments/log", (c) => c.html(LogPanel(log())));

  app.post("/pending/:user/approve", async (c) => {
    const user = c.req.param("user");
    const form = await c.req.formData();
    const typed = String(form.get("code") ?? "").trim();
    let notice: PendingProps["notice"];
    try {
      // The code is asked again every time: a session alone never approves anyone.
      if (typed === "") throw new ApprovalError("code-needed", `type the registration code ${user} sent you to approve them`);
      const p = d.approvePending(user, readRegistrationCode(typed));
      deps.log.info("registered", { user, addr: p.address, via: "admin" });
      notice = { text: `Approved ${user} with code ${encodeRegistrationCode(p.code)}.`, error: false };
    } catch (e) {
      if (!(e instanceof ApprovalError)) throw e;
      notice = { text: e.message, error: true };
    }
    if (c.req.header("hx-request")) return c.html(PendingPanel(pending(notice)), notice.error ? 422 : 200);
    return page(c, notice);
  });

  return app;
}

const TOKEN_HEADER = "x-smsg-token";

/** The page token: its header, or a plain form post's `_token` field. */
async function pageToken(c: Context): Promise<string | undefined> {
  const h = c.req.header(TOKEN_HEADER);
  if (h) return h;
  if (c.req.method === "POST" && FORM.test(c.req.header("content-type") ?? "")) {
    const v = (await c.req.formData()).get("_token");
    return typeof v === "string" ? v : undefined;
  }
  return undefined;
}

function hashHex(s: string): string {
  return Buffer.from(sha256(new TextEncoder().encode(s))).toString("hex");
}

export interface RunningAdmin {
  url: string;
  /** A fresh one-time login link. */
  loginUrl(ttlMs: number): string;
  stop(): Promise<void>;
}

export function startAdmin(deps: AdminDeps, addr: { host: string; port: number }): RunningAdmin {
  let port = 0;
  const app = adminApp(deps, () => adminHosts(port));
  const server = Bun.serve({ hostname: addr.host, port: addr.port, fetch: app.fetch });
  port = server.port!;
  const url = `http://${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:${port}`;
  return {
    url,
    loginUrl: (ttlMs) => `${url}/login?token=${createAdminLogin(deps.core.directory, deps.core.now(), ttlMs)}`,
    stop: () => server.stop(true),
  };
}
