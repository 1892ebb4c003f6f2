// The mailbox's live events (CLIENT.md §2.7 "Events"): status, new mail, deliveries, changed
// identities and lock, as server-sent events. The session was checked on the way in; the
// stream checks it again every 5 s without counting as use, and ends with `lock` when it
// lapsed: sender and subject are content, and an idle page must stop receiving them.

import { Hono } from "hono";
import { getCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import { connText } from "../../views/layout.tsx";
import type { Mailbox } from "./context.tsx";

export const EVENTS_PATH = "/events";

export function eventsRoutes(m: Mailbox): Hono {
  const { host, sessions } = m;
  const app = new Hono();

  app.get(EVENTS_PATH, (c) => {
    const id = getCookie(c, m.cookie());
    const token = c.req.query("token");
    return streamSSE(c, async (stream) => {
      let closed = false;
      const off = host.events.on((e) => {
        if (closed) return;
        if (e.type === "status") {
          void stream.writeSSE({ event: "status", data: JSON.stringify({ ...connText(e, Date.now()), unread: e.unread }) });
        } else if (e.type === "message") {
          const unread = host.unlocked ? host.daemon.store.count("in", true) : 0;
          void stream.writeSSE({ event: "message", data: JSON.stringify({ id: e.id, from: e.from, subject: e.subject, unread }) });
        } else if (e.type === "lock") {
          void stream.writeSSE({ event: "lock", data: "{}" });
        } else if (e.type === "delivery" || e.type === "identity-changed") {
          void stream.writeSSE({ event: e.type, data: JSON.stringify(e) });
        }
      });
      stream.onAbort(() => {
        closed = true;
        off();
      });
      while (!closed) {
        await stream.sleep(5_000);
        if (closed) break;
        if (!host.unlocked || !sessions.check(id, token, m.idleMs(), false)) {
          await stream.writeSSE({ event: "lock", data: "{}" });
          break;
        }
        await stream.writeSSE({ event: "ping", data: "" });
      }
      off();
    });
  });

  return app;
}
