/** @jsxImportSource hono/jsx */
// The mailbox web UI (CLIENT.md §2.5–§2.7): Hono + htmx pages served by the daemon on loopback,
// on the API's listener (its Host check runs first). The shared web layer (src/web/) gives
// the page headers, the same-origin checks for writes, the assets and the session check;
// the route groups beside this file hold the pages, by area.

import { Hono } from "hono";
import type { ClientHost } from "../host.ts";
import { UserError } from "../user-error.ts";
import { DISK_FULL, isDiskFull } from "../store.ts";
import { ASSETS } from "../../views/assets.ts";
import { Shell } from "../../views/layout.tsx";
import { pageHeaders } from "../../web/page-headers.ts";
import { sameOriginWrites } from "../../web/same-origin.ts";
import { assetRoute } from "../../web/assets.ts";
import { Sessions } from "../../web/page-sessions.ts";
import { sessionCheck } from "../../web/session-check.ts";
import { WebError } from "../../web/web-error.ts";
import { mailboxContext } from "./context.tsx";
import { lockRoutes, unlockRoutes } from "./session-routes.tsx";
import { EVENTS_PATH, eventsRoutes } from "./events-route.ts";
import { DOWNLOAD_PATH, readingRoutes } from "./reading.tsx";
import { composeRoutes } from "./compose.tsx";
import { contactsRoutes } from "./contacts.tsx";
import { settingsRoutes } from "./settings.tsx";

export function mountMailbox(app: Hono, host: ClientHost): void {
  const m = mailboxContext(host, new Sessions());
  host.events.on((e) => {
    if (e.type === "lock") m.sessions.endAll();
  });

  const ui = new Hono();
  const secure = pageHeaders({ imgSrc: ["data:"], mediaSrc: ["'self'"] });
  // Downloads keep their own stricter headers (sandbox CSP, nosniff); the page's would replace them.
  ui.use("*", async (c, next) => (c.req.method === "GET" && DOWNLOAD_PATH.test(c.req.path) ? next() : secure(c, next)));
  ui.use("*", ...sameOriginWrites());

  ui.get("/assets/:name", assetRoute(ASSETS));
  ui.route("/", unlockRoutes(m));

  // Everything below needs an unlocked session (CLIENT.md §2.5 step 6).
  ui.use(
    "*",
    sessionCheck({
      sessions: m.sessions,
      cookie: m.cookie,
      idleMs: m.idleMs,
      open: () => host.unlocked,
      eventsPath: EVENTS_PATH,
      download: DOWNLOAD_PATH,
      shell: (c) => c.html(<Shell />),
      refuse: (c) => {
        if (c.req.header("hx-request")) {
          c.header("HX-Redirect", "/unlock");
          return c.body(null, 401);
        }
        if (c.req.method === "GET" && !c.req.path.startsWith(EVENTS_PATH)) return c.redirect("/unlock", 303);
        return c.text("locked: unlock the mailbox first", 401);
      },
    }),
  );

  ui.route("/", lockRoutes(m));
  ui.route("/", readingRoutes(m));
  ui.route("/", composeRoutes(m));
  ui.route("/", contactsRoutes(m));
  ui.route("/", settingsRoutes(m));
  ui.route("/", eventsRoutes(m));

  ui.onError((err, c) => {
    if (err instanceof WebError) return c.text(err.message, err.status);
    if (err instanceof UserError) return c.text(err.message, err.status);
    if (isDiskFull(err)) return c.text(DISK_FULL, 507);
    if ("getResponse" in err && typeof err.getResponse === "function") return err.getResponse() as Response;
    console.error(`mailbox error: ${err instanceof Error ? err.message : String(err)}`);
    return c.text("internal error", 500);
  });

  app.route("/", ui);
}
