// The session check of the loopback pages (CLIENT.md §2.5 step 6, SECURITY.md §9 and §12),
// one middleware for the mailbox and the admin page: the session cookie AND its page token
// (header X-Smsg-Token; a plain form post's `_token`; the event stream's `token` query; a
// download's signed `dl` link). A request the page makes by itself (X-Smsg-Auto: 1) must find
// the session alive but does not keep it alive, or the page's own refreshes would defeat the
// idle time. A navigation cannot carry the token: a live cookie gets the shell, without data.

import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Sessions } from "./page-sessions.ts";

/** Marks a request the page made by itself, not a person's use (CLIENT.md §2.5). */
export const AUTO_HEADER = "x-smsg-auto";
/** The page token's header; a plain form post carries it as the field `_token`. */
export const TOKEN_HEADER = "x-smsg-token";

const FORM = /^(application\/x-www-form-urlencoded|multipart\/form-data)/;

export interface SessionCheck {
  sessions: Sessions;
  cookie: () => string;
  idleMs: () => number;
  /** Sessions exist at all (the mailbox: the daemon is unlocked). */
  open?: () => boolean;
  /** The event stream, whose token comes in the query (an EventSource cannot set headers). */
  eventsPath?: string;
  /** GET paths that are downloads: checked by their signed `dl` link, never given the shell. */
  download?: RegExp;
  /** The answer to a navigation whose cookie names a live session: a shell without data. */
  shell: (c: Context) => Response | Promise<Response>;
  /** The answer to everything else without a live session; `cookieAlive` tells the two cases apart. */
  refuse: (c: Context, cookieAlive: boolean) => Response | Promise<Response>;
}

/** The page token of a request: its header, a plain form post's `_token` field, or the event stream's query. */
export async function pageToken(c: Context, eventsPath?: string): Promise<string | undefined> {
  const h = c.req.header(TOKEN_HEADER);
  if (h) return h;
  if (c.req.method === "POST" && FORM.test(c.req.header("content-type") ?? "")) {
    const v = (await c.req.formData()).get("_token");
    return typeof v === "string" ? v : undefined;
  }
  if (c.req.method === "GET" && eventsPath !== undefined && c.req.path === eventsPath) return c.req.query("token");
  return undefined;
}

export function sessionCheck(o: SessionCheck): MiddlewareHandler {
  return async (c, next) => {
    const id = getCookie(c, o.cookie());
    const open = o.open?.() ?? true;
    const download = c.req.method === "GET" && o.download !== undefined && o.download.test(c.req.path);
    const live =
      open &&
      (download
        ? o.sessions.checkSigned(id, c.req.path, c.req.query("dl"), o.idleMs())
        : o.sessions.check(id, await pageToken(c, o.eventsPath), o.idleMs(), c.req.header(AUTO_HEADER) !== "1"));
    if (live) {
      await next();
      return undefined;
    }
    const cookieAlive = open && o.sessions.cookieAlive(id, o.idleMs());
    // Another port's server that collected the cookie gets no more than this shell.
    const navigation = c.req.method === "GET" && !download && !c.req.header("hx-request") && !c.req.header(TOKEN_HEADER) && c.req.path !== o.eventsPath;
    if (navigation && cookieAlive) return o.shell(c);
    return o.refuse(c, cookieAlive);
  };
}
