// The relay's admin page (README "Admin page", SECURITY.md §12): connected users, pending
// registrations with Approve, and the tail of today's log, on a loopback port. Behind its own
// login: one-time links (hashed in relay.db, so `ctrl admin-login` can make one) give a
// session: an HttpOnly SameSite=Strict cookie AND a page token that only this port's pages
// hold (the browser sends the cookie to every port of the host). Host check, csrf, an exact
// Origin check, a strict CSP and the session check are the mailbox's (CLIENT.md §2.5), from
// the shared web layer in src/web/.

import { Hono, type Context } from "hono";
import { setCookie } from "hono/cookie";
import { pageHeaders } from "../web/page-headers.ts";
import { hostCheck, loopbackHosts } from "../web/loopback-host.ts";
import { sameOriginWrites } from "../web/same-origin.ts";
import { assetRoute } from "../web/assets.ts";
import { Sessions } from "../web/page-sessions.ts";
import { sessionCheck } from "../web/session-check.ts";
import { WebError } from "../web/web-error.ts";
import { form, text } from "../web/form.ts";
import { z } from "zod";
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
const LOG_TAIL_LINES = 200;
const approveForm = z.object({ code: text });

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
  const sessions = new Sessions(() => core.now(), SESSION_MAX_MS, "hex");
  const app = new Hono();

  app.use("*", hostCheck(hosts));
  app.use("*", pageHeaders());
  app.use("*", ...sameOriginWrites());
  app.onError((err, c) => {
    if (err instanceof WebError) return c.text(err.message, err.status);
    if ("getResponse" in err && typeof err.getResponse === "function") return err.getResponse() as Response;
    console.error(err);
    return c.text("Internal Server Error", 500);
  });

  app.get("/assets/:name", assetRoute(ADMIN_ASSETS));
  app.get("/favicon.ico", (c) => c.body(null, 204)); // browsers ask; there is none

  app.get("/login", (c) => {
    if (!redeemAdminLogin(d, c.req.query("token") ?? "", core.now())) {
      deps.log.warn("admin-login-failed", {});
      return c.html(LoginNeededPage({ reason: "This login link is not valid: it was used already, or it expired." }), 401);
    }
    const s = sessions.create();
    deps.log.info("admin-login", {});
    setCookie(c, ADMIN_COOKIE, s.id, { httpOnly: true, sameSite: "Strict", path: "/" });
    // The token reaches the page in the fragment, which no request carries (session.js).
    return c.redirect(`/#t=${s.token}`, 303);
  });

  // Everything below needs the session. The panels' own refreshes every 5 s are marked
  // X-Smsg-Auto and are not the operator's use (else the page never idles out).
  app.use(
    "*",
    sessionCheck({
      sessions,
      cookie: () => ADMIN_COOKIE,
      idleMs: () => SESSION_IDLE_MS,
      shell: (c) => c.html(AdminShell()),
      refuse: (c, cookieAlive) =>
        c.html(
          LoginNeededPage({
            reason: cookieAlive ? "This page's session is not valid here: open a new login link." : "You are not logged in to this relay's admin page.",
          }),
          401,
        ),
    }),
  );

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

  app.post("/pending/:user/approve", form(approveForm), async (c) => {
    const user = c.req.param("user");
    const typed = c.req.valid("form").code.trim();
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

export interface RunningAdmin {
  url: string;
  /** A fresh one-time login link. */
  loginUrl(ttlMs: number): string;
  stop(): Promise<void>;
}

export function startAdmin(deps: AdminDeps, addr: { host: string; port: number }): RunningAdmin {
  let port = 0;
  const app = adminApp(deps, () => loopbackHosts(port));
  const server = Bun.serve({ hostname: addr.host, port: addr.port, fetch: app.fetch });
  port = server.port!;
  const url = `http://${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:${port}`;
  return {
    url,
    loginUrl: (ttlMs) => `${url}/login?token=${createAdminLogin(deps.core.directory, deps.core.now(), ttlMs)}`,
    stop: () => server.stop(true),
  };
}
