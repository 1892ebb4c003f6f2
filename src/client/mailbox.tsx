/** @jsxImportSource hono/jsx */
// The mailbox web UI (issue #3): Hono + htmx pages served by the daemon on loopback. A
// browser session starts at Unlock; the cookie is HttpOnly and SameSite=Strict; every
// unsafe request passes Hono's csrf check; the CSP allows only our own scripts and styles.
// Views are pure functions of props: everything they show is gathered here.

import { Hono, type Context } from "hono";
import { csrf } from "hono/csrf";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import { pageHeaders } from "../net/page-headers.ts";
import type { ClientHost } from "./host.ts";
import { UserError } from "./user-error.ts";
import { DEFAULT_SETTINGS, type Settings } from "../views/mailbox-settings.ts";
import { DISK_FULL, isDiskFull, WrongPasswordError, type MessageSummary } from "./store.ts";
import { AUTO_HEADER, SESSION_COOKIE, Sessions, TOKEN_HEADER } from "./sessions.ts";
import { openDecrypted } from "./open-file.ts";
import { ACCEPT_KEY, contactView } from "./contact-list.ts";
import { ASSETS } from "../views/assets.ts";
import type { Child } from "hono/jsx";
import { Layout, Shell, connText, type LayoutProps } from "../views/layout.tsx";
import { UnlockPage } from "../views/unlock.tsx";
import { FolderPage, MessageList, type ListItem } from "../views/message-list.tsx";
import { MessageView } from "../views/message-view.tsx";
import { ComposeForm, ConnectedUsers, SentNotice, type ComposeProps } from "../views/compose.tsx";
import { ContactsPage } from "../views/contacts.tsx";
import { SettingsPage } from "../views/settings.tsx";
import { attachmentIndex, downloadResponse, uploadDraft } from "./attachment-http.ts";

const PAGE = 50;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const FORM = /^(application\/x-www-form-urlencoded|multipart\/form-data)/;

/** The page token of a request: its header, a plain form post's `_token` field, or the event stream's query. */
async function pageToken(c: Context): Promise<string | undefined> {
  const h = c.req.header(TOKEN_HEADER);
  if (h) return h;
  if (c.req.method === "POST" && FORM.test(c.req.header("content-type") ?? "")) {
    const v = (await c.req.formData()).get("_token");
    return typeof v === "string" ? v : undefined;
  }
  if (c.req.method === "GET" && c.req.path === "/events") return c.req.query("token");
  return undefined;
}
type Folder = "inbox" | "outbox" | "queued";
const TITLES: Record<Folder, string> = { inbox: "Inbox", outbox: "Outbox", queued: "Queued" };

/**
 * Unlock attempts from the page: one at a time (parallel guesses would all run), and a
 * wrong one costs an argon2id and then a growing wait.
 */
class UnlockThrottle {
  #failures = 0;
  #until = 0;
  busy = false;
  allowed(now: number): boolean {
    return now >= this.#until;
  }
  failed(now: number): void {
    this.#failures++;
    this.#until = now + Math.min(30_000, 250 * 2 ** Math.min(this.#failures, 7));
  }
  ok(): void {
    this.#failures = 0;
    this.#until = 0;
  }
}

export function mountMailbox(app: Hono, host: ClientHost): void {
  const sessions = new Sessions();
  const throttle = new UnlockThrottle();
  host.events.on((e) => {
    if (e.type === "lock") sessions.endAll();
  });

  // Cookies ignore ports: two mailboxes on one machine (two users, two ports of 127.0.0.1)
  // would overwrite each other's session under one name. The port makes it this one's.
  const cookie = () => `${SESSION_COOKIE}_${host.uiUrl ? new URL(host.uiUrl).port : "0"}`;
  const settings = (): Settings => (host.unlocked ? host.daemon.settings() : DEFAULT_SETTINGS);
  const idleMs = () => settings().idleLockMinutes * 60_000;

  const ui = new Hono();
  const secure = pageHeaders({ imgSrc: ["data:"], mediaSrc: ["'self'"] });
  // Downloads keep their own stricter headers (sandbox CSP, nosniff); the page's would replace them.
  const DOWNLOAD = /^\/messages\/[^/]+\/attachments\/\d+$/;
  ui.use("*", async (c, next) => (c.req.method === "GET" && DOWNLOAD.test(c.req.path) ? next() : secure(c, next)));
  ui.use("*", csrf());
  // Every request that can change something must come from this very origin, port included:
  // csrf() above leaves non-form content types (the raw upload) alone (SPEC.md §8.5).
  ui.use("*", async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method) && c.req.header("origin") !== `http://${c.req.header("host")}`) return c.text("Forbidden", 403);
    await next();
    return undefined;
  });

  ui.get("/assets/:name", async (c) => {
    const a = ASSETS[c.req.param("name")];
    if (!a) return c.notFound();
    return new Response(Bun.file(a.path), { headers: { "content-type": a.type, "cache-control": "no-cache" } });
  });

  ui.get("/unlock", (c) => c.html(<UnlockPage user={host.user} daemonLocked={!host.unlocked} />));

  ui.post("/unlock", async (c) => {
    const now = Date.now();
    const form = await c.req.formData();
    const password = String(form.get("password") ?? "");
    const page = (error: string, status: 401 | 409 | 429) =>
      c.html(<UnlockPage user={host.user} daemonLocked={!host.unlocked} error={error} />, status);
    if (throttle.busy) return page("Another unlock is in progress: try again in a moment.", 429);
    if (!throttle.allowed(now)) return page("Too many wrong passwords: wait a few seconds and try again.", 429);
    if (password === "") return page("Enter your password.", 401);
    throttle.busy = true;
    try {
      await host.unlock(password, { mayCreate: false });
    } catch (e) {
      if (e instanceof WrongPasswordError || (e instanceof UserError && e.status === 403)) {
        throttle.failed(Date.now());
        return page("Wrong password.", 401);
      }
      if (e instanceof UserError) return page(e.message, e.status === 409 ? 409 : 401);
      throw e;
    } finally {
      throttle.busy = false;
    }
    throttle.ok();
    const s = sessions.create();
    setCookie(c, cookie(), s.id, { httpOnly: true, sameSite: "Strict", path: "/" });
    // The token reaches the page in the fragment, which no request ever carries (session.js).
    return c.redirect(`/inbox#t=${s.token}`, 303);
  });

  // Everything below needs an unlocked session. A request the page makes by itself (the
  // inbox refreshing on new mail, marked AUTO_HEADER) is not a person: it must find the
  // session alive but does not keep it alive, or mail arriving would defeat the idle lock.
  ui.use("*", async (c, next) => {
    const id = getCookie(c, cookie());
    const download = c.req.method === "GET" && DOWNLOAD.test(c.req.path);
    const live =
      host.unlocked &&
      (download
        ? sessions.checkSigned(id, c.req.path, c.req.query("dl"), idleMs())
        : sessions.check(id, await pageToken(c), idleMs(), c.req.header(AUTO_HEADER) !== "1"));
    if (!live) {
      // A navigation carries the cookie but cannot carry the token: it gets a shell without
      // data, whose script fetches the page with the token. Another port's server that
      // collected the cookie gets no more than this shell.
      const navigation = c.req.method === "GET" && !download && !c.req.header("hx-request") && !c.req.header(TOKEN_HEADER) && c.req.path !== "/events";
      if (navigation && host.unlocked && sessions.cookieAlive(id, idleMs())) return c.html(<Shell />);
      if (c.req.header("hx-request")) {
        c.header("HX-Redirect", "/unlock");
        return c.body(null, 401);
      }
      if (c.req.method === "GET" && !c.req.path.startsWith("/events")) return c.redirect("/unlock", 303);
      return c.text("locked: unlock the mailbox first", 401);
    }
    await next();
    return undefined;
  });

  ui.post("/lock", (c) => {
    host.lock(); // every browser session, as the tray's Lock does
    deleteCookie(c, cookie(), { path: "/" });
    return c.redirect("/unlock", 303);
  });

  const page = (c: Context, active: LayoutProps["active"], title: string, body: Child) => {
    const d = host.daemon;
    const st = host.status();
    const s = d.settings();
    return c.html(
      <Layout
        title={title}
        user={host.user}
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
    );
  };

  ui.get("/", (c) => c.redirect("/inbox", 303));

  const folder = (name: Folder) => (c: Context) => {
    const d = host.daemon;
    const q = (c.req.query("q") ?? "").trim();
    const pageNo = Math.max(0, Math.min(100_000, Number.parseInt(c.req.query("page") ?? "0", 10) || 0));
    let items: MessageSummary[];
    let more: boolean;
    if (q) {
      const r = d.search.search(q, name === "inbox" ? "in" : "out", PAGE, pageNo * PAGE);
      items = d.store.byRids(r.rids);
      if (name === "queued") items = items.filter((m) => m.flags === "Q" || m.flags === "H"); // as listWaiting
      more = r.more;
    } else {
      const opts = { limit: PAGE + 1, offset: pageNo * PAGE };
      items = name === "inbox" ? d.store.list("in", opts) : name === "outbox" ? d.store.list("out", opts) : d.store.listWaiting(opts);
      more = items.length > PAGE;
      items = items.slice(0, PAGE);
    }
    const props = { folder: name, items: items.map(listItem), page: pageNo, more, q };
    if (c.req.header("hx-request")) return c.html(<MessageList {...props} />);
    return page(c, name, TITLES[name], <FolderPage {...props} title={TITLES[name]} />);
  };
  ui.get("/inbox", folder("inbox"));
  ui.get("/outbox", folder("outbox"));
  ui.get("/queued", folder("queued"));

  ui.get("/messages/:id", (c) => {
    const m = host.daemon.show(c.req.param("id"));
    return page(
      c,
      "message",
      m.subject,
      <MessageView
        id={m.id}
        folder={m.folder}
        from={m.from}
        to={m.to}
        subject={m.subject}
        date={m.date}
        body={m.body}
        attachments={m.attachments.map((a, i) => {
          const path = `/messages/${m.id}/attachments/${i}`;
          return { ...a, href: `${path}?dl=${sessions.sign(getCookie(c, cookie()), path)}` };
        })}
        deliveries={m.deliveries}
      />,
    );
  });

  const attachment = (c: Context) => {
    const m = host.daemon.store.find(c.req.param("id") ?? "");
    const idx = attachmentIndex(c.req.param("idx"));
    const meta = m?.attachments[idx];
    if (!m || !meta) throw new UserError("no such attachment", 404);
    return { m, idx, meta };
  };

  ui.get("/messages/:id/attachments/:idx", (c) => {
    const { m, idx, meta } = attachment(c);
    return downloadResponse(host.daemon.store, m.rid, idx, meta);
  });

  ui.post("/messages/:id/attachments/:idx/open", (c) => {
    const { m, idx, meta } = attachment(c);
    openDecrypted(meta.name, host.daemon.store.readAttachment(m.rid, idx));
    return c.html(<span>Opened {meta.name} with its default program.</span>);
  });

  ui.get("/compose", (c) => {
    const replyTo = c.req.query("reply");
    let props: ComposeProps = { to: c.req.query("to") ?? "", subject: "", body: "", attachments: [], errors: {}, cursor: "start" };
    if (replyTo) {
      const m = host.daemon.store.find(replyTo);
      if (m) props = { ...props, ...replyDraft(m, host.daemon.settings().posting) };
    }
    return page(c, "compose", "Send Mail", <ComposeForm {...props} />);
  });

  ui.get("/users", async (c) => {
    try {
      const users = (await host.daemon.connectedUsers()).filter((u) => u !== host.user);
      return c.html(<ConnectedUsers users={users} />);
    } catch (e) {
      return c.html(<ConnectedUsers users={[]} error={e instanceof Error ? e.message : String(e)} />);
    }
  });

  ui.post("/attachments", async (c) => c.json(await uploadDraft(host.daemon.store, c.req.raw.body, Date.now())));

  ui.post("/send", async (c) => {
    const form = await c.req.formData();
    const to = String(form.get("to") ?? "");
    const subject = String(form.get("subject") ?? "");
    const body = String(form.get("body") ?? "");
    const atts = form.getAll("att").map(String);
    const names = form.getAll("att_name").map(String);
    const attachments = atts.map((att, i) => ({ att, name: names[i] ?? "attachment", size: host.daemon.store.draftSize(att) ?? 0 }));
    const errors: ComposeProps["errors"] = {};
    if (to.trim() === "") errors.to = "To is required: at least one recipient.";
    if (subject.trim() === "") errors.subject = "Subject is required.";
    if (body.trim() === "") errors.body = "Message is required.";
    const again = (status: 200 | 400 | 503) =>
      c.html(<ComposeForm to={to} subject={subject} body={body} attachments={attachments} errors={errors} cursor="end" />, status);
    if (Object.keys(errors).length > 0) return again(400);
    try {
      const r = await host.daemon.send({ to: to.split(","), subject, body, attachments: attachments.map(({ att, name }) => ({ att, name })) });
      const recipients = [...new Set(to.split(",").map((u) => u.trim().toLowerCase()).filter((u) => u))];
      return c.html(<SentNotice id={r.id} queued={r.queued} delivered={recipients.filter((u) => !r.queued.includes(u))} />);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      if (/recipient|user id|To/.test(e.message)) errors.to = e.message;
      else if (/Subject/.test(e.message)) errors.subject = e.message;
      else if (/Message|text/.test(e.message)) errors.body = e.message;
      else errors.form = e.message;
      return again(e.status === 503 ? 503 : 400);
    }
  });

  const contactsPage = (c: Context, error?: string) => {
    const me = { user: host.user, identity: host.daemon.id.identity.publicKey };
    const contacts = host.daemon.store.contacts().map((k) => contactView(me, k));
    return page(c, "contacts", "Contacts", <ContactsPage me={host.user} contacts={contacts} error={error} />);
  };
  ui.get("/contacts", (c) => contactsPage(c));
  // The form carries the key whose safety number the page showed: Accept adopts that key or
  // nothing (a relay may have swapped in another since the page was read).
  ui.post("/contacts/:user/accept", async (c) => {
    const key = String((await c.req.formData()).get("key") ?? "");
    if (!ACCEPT_KEY.test(key)) throw new UserError("Accept must name the key it accepts: reload the Contacts page", 400);
    try {
      host.daemon.acceptIdentity(c.req.param("user"), new Uint8Array(Buffer.from(key, "hex")));
    } catch (e) {
      if (e instanceof UserError && e.status === 409) {
        c.status(409);
        return contactsPage(c, e.message);
      }
      throw e;
    }
    return c.redirect("/contacts", 303);
  });
  ui.post("/contacts/:user/reject", (c) => {
    host.daemon.rejectIdentity(c.req.param("user"));
    return c.redirect("/contacts", 303);
  });

  ui.get("/settings", (c) => page(c, "settings", "Settings", <SettingsPage settings={host.daemon.settings()} saved={c.req.query("saved") === "1"} />));
  ui.post("/settings", async (c) => {
    const f = await c.req.formData();
    const num = (k: string, min: number, max: number, dflt: number) => {
      const n = Number(f.get(k));
      return Number.isInteger(n) && n >= min && n <= max ? n : dflt;
    };
    const cur = host.daemon.settings();
    host.daemon.saveSettings({
      sound: f.get("sound") === "on",
      posting: f.get("posting") === "bottom" ? "bottom" : "top",
      idleLockMinutes: num("idleLockMinutes", 1, 1440, cur.idleLockMinutes),
      popupReturnSeconds: num("popupReturnSeconds", 1, 3600, cur.popupReturnSeconds),
      notificationDetails: f.get("notificationDetails") === "on",
    });
    return c.redirect("/settings?saved=1", 303);
  });

  // Live events for the page: status, new mail, lock. The session was checked above.
  ui.get("/events", (c) => {
    const id = getCookie(c, cookie());
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
      // A session that lapsed (idle) or was locked stops receiving: sender and subject are content.
      while (!closed) {
        await stream.sleep(5_000);
        if (closed) break;
        if (!host.unlocked || !sessions.check(id, token, idleMs(), false)) {
          await stream.writeSSE({ event: "lock", data: "{}" });
          break;
        }
        await stream.writeSSE({ event: "ping", data: "" });
      }
      off();
    });
  });

  ui.onError((err, c) => {
    if (err instanceof UserError) return c.text(err.message, err.status);
    if (isDiskFull(err)) return c.text(DISK_FULL, 507);
    if ("getResponse" in err && typeof err.getResponse === "function") return err.getResponse() as Response;
    console.error(`mailbox error: ${err instanceof Error ? err.message : String(err)}`);
    return c.text("internal error", 500);
  });

  app.route("/", ui);
}

function listItem(m: MessageSummary): ListItem {
  return { id: m.id, from: m.from, to: m.to, subject: m.subject, date: m.date, flags: m.flags, attachments: m.attachments.length };
}

/** "Re: " once, never "Re: Re: "; the original quoted below an empty top (or above, bottom-posting). */
export function replyDraft(
  m: { from: string; subject: string; body: string; date: number },
  posting: "top" | "bottom",
): Pick<ComposeProps, "to" | "subject" | "body" | "cursor"> {
  const subject = `Re: ${m.subject.replace(/^(\s*re\s*:\s*)+/i, "")}`;
  const quote =
    `On ${new Date(m.date).toISOString().replace("T", " ").slice(0, 16)}, ${m.from} wrote:\n` +
    m.body
      .replace(/\n+$/, "")
      .split("\n")
      .map((l) => `> ${l}`)
      .join("\n");
  return posting === "top"
    ? { to: m.from, subject, body: `\n\n${quote}\n`, cursor: "start" }
    : { to: m.from, subject, body: `${quote}\n\n`, cursor: "end" };
}
