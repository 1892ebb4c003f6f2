/** @jsxImportSource hono/jsx */
// What every route group of the mailbox shares (CLIENT.md §2.5–§2.7): the daemon's host, the
// browser sessions and their cookie's name, and the page frame (folder bar, connection line)
// that each full page is drawn in. Views are pure functions of props: the frame's data is
// gathered here.

import type { Context } from "hono";
import type { Child } from "hono/jsx";
import type { ClientHost } from "../host.ts";
import { DEFAULT_SETTINGS, type Settings } from "../../views/mailbox-settings.ts";
import type { Sessions } from "../../web/page-sessions.ts";
import { Layout, connText, type LayoutProps } from "../../views/layout.tsx";

export interface Mailbox {
  host: ClientHost;
  sessions: Sessions;
  /** The session cookie's name, `smsg_session_<port>`. */
  cookie: () => string;
  /** The idle time of a session, from the settings (§8.7). */
  idleMs: () => number;
}

export function mailboxContext(host: ClientHost, sessions: Sessions): Mailbox {
  const settings = (): Settings => (host.unlocked ? host.daemon.settings() : DEFAULT_SETTINGS);
  return {
    host,
    sessions,
    // Cookies ignore ports: two mailboxes on one machine (two users, two ports of 127.0.0.1)
    // would overwrite each other's session under one name. The port makes it this one's.
    cookie: () => `${SESSION_COOKIE}_${host.uiUrl ? new URL(host.uiUrl).port : "0"}`,
    idleMs: () => settings().idleLockMinutes * 60_000,
  };
}

export const SESSION_COOKIE = "smsg_session";

/** A full page: the layout with the folder bar around `body`. */
export function page(m: Mailbox, c: Context, active: LayoutProps["active"], title: string, body: Child, status: 200 | 400 | 403 | 409 | 503 = 200) {
  const d = m.host.daemon;
  const st = m.host.status();
  const s = d.settings();
  return c.html(
    <Layout
      title={title}
      user={m.host.user}
      active={active}
      conn={connText(st, Date.now())}
      unread={st.unread}
      popupReturnSeconds={s.popupReturnSeconds}
      sound={s.sound}
      notificationDetails={s.notificationDetails}
      warnings={d.store.contacts().filter((k) => k.changedIdentity).length}
    >
      {body}
    </Layout>,
    status,
  );
}
