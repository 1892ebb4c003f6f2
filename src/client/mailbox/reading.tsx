/** @jsxImportSource hono/jsx */
// Reading mail in the mailbox (CLIENT.md §2.6): the folders Inbox, Outbox, Queued and Trash
// with paging and search (§2.7), a message (whole, in the reading pane, or for print), its
// attachments' Save (a signed download link, §2.5 step 6) and Open (a decrypted copy for the
// default program), its export as .eml, and Delete, Restore, Mark as unread, Empty Trash (§2.8).

import { Hono, type Context } from "hono";
import { getCookie } from "hono/cookie";
import { UserError } from "../user-error.ts";
import type { MessageSummary } from "../store.ts";
import { openDecrypted } from "../open-file.ts";
import { attachmentIndex, downloadResponse } from "../attachment-http.ts";
import { FolderPage, MessageList, type ListItem } from "../../views/message-list.tsx";
import { MessageView, PrintView } from "../../views/message-view.tsx";
import { Bare } from "../../views/layout.tsx";
import { page, type Mailbox } from "./context.tsx";
import * as actions from "../mail-actions.ts";
import { exportHeaders, textStream } from "../eml.ts";

const PAGE = 50;
type Folder = "inbox" | "outbox" | "queued" | "trash";
const TITLES: Record<Folder, string> = { inbox: "Inbox", outbox: "Outbox", queued: "Queued", trash: "Trash" };

/** A download's path (an attachment, a .eml): it keeps its own strict headers and is checked by its signed link. */
export const DOWNLOAD_PATH = /^\/messages\/[^/]+\/(attachments\/\d+|eml)$/;

export function readingRoutes(m: Mailbox): Hono {
  const { host, sessions } = m;
  const app = new Hono();

  app.get("/", (c) => c.redirect("/inbox", 303));

  const folder = (name: Folder) => (c: Context) => {
    const d = host.daemon;
    const q = (c.req.query("q") ?? "").trim();
    const pageNo = Math.max(0, Math.min(100_000, Number.parseInt(c.req.query("page") ?? "0", 10) || 0));
    let items: MessageSummary[];
    let more: boolean;
    if (q) {
      const r = d.search.search(q, name === "inbox" ? "in" : name === "trash" ? "any" : "out", PAGE, pageNo * PAGE);
      // The Trash's messages are found in the Trash only (§2.8).
      items = d.store.byRids(r.rids).filter((s) => s.trashed === (name === "trash"));
      if (name === "queued") items = items.filter((s) => s.flags === "Q" || s.flags === "H"); // as listWaiting
      more = r.more;
    } else {
      const opts = { limit: PAGE + 1, offset: pageNo * PAGE };
      items =
        name === "inbox" ? d.store.list("in", opts) : name === "outbox" ? d.store.list("out", opts) : name === "trash" ? d.store.listTrash(opts) : d.store.listWaiting(opts);
      more = items.length > PAGE;
      items = items.slice(0, PAGE);
    }
    const props = { folder: name, items: items.map(listItem), page: pageNo, more, q };
    if (c.req.header("hx-request")) return c.html(<MessageList {...props} />);
    return page(m, c, name, TITLES[name], <FolderPage {...props} title={TITLES[name]} />);
  };
  app.get("/inbox", folder("inbox"));
  app.get("/outbox", folder("outbox"));
  app.get("/queued", folder("queued"));
  app.get("/trash", folder("trash"));

  const signed = (c: Context, path: string) => `${path}?dl=${sessions.sign(getCookie(c, m.cookie()), path)}`;

  // With `pane=1` (the reading pane asks so, with HX-Request) only the message, no frame.
  app.get("/messages/:id", (c) => {
    const msg = host.daemon.show(c.req.param("id"));
    const view = (
      <MessageView
        id={msg.id}
        folder={msg.folder}
        trashed={msg.trashed}
        emlHref={signed(c, `/messages/${msg.id}/eml`)}
        from={msg.from}
        to={msg.to}
        subject={msg.subject}
        date={msg.date}
        body={msg.body}
        attachments={msg.attachments.map((a, i) => {
          const path = `/messages/${msg.id}/attachments/${i}`;
          return { ...a, href: signed(c, path) };
        })}
        deliveries={msg.deliveries}
      />
    );
    if (c.req.query("pane") === "1" && c.req.header("hx-request")) return c.html(view);
    return page(m, c, "message", msg.subject, view);
  });

  app.get("/messages/:id/print", (c) => {
    const msg = host.daemon.show(c.req.param("id"));
    return c.html(
      <Bare title={msg.subject}>
        <PrintView subject={msg.subject} from={msg.from} to={msg.to} date={msg.date} body={msg.body} attachments={msg.attachments.map((a) => ({ ...a, href: "" }))} />
      </Bare>,
    );
  });

  app.get("/messages/:id/eml", (c) => {
    const id = c.req.param("id");
    return new Response(textStream(actions.emlOf(host.daemon, id)), { headers: exportHeaders(`${id}.eml`, "message/rfc822") });
  });

  // Where a message's page sends the person after an action: the folder it is (now) in.
  const home = (id: string) => {
    const msg = host.daemon.store.find(id);
    return !msg ? "/inbox" : msg.trashed ? "/trash" : msg.folder === "in" ? "/inbox" : "/outbox";
  };
  app.post("/messages/:id/delete", (c) => {
    const id = c.req.param("id");
    const from = home(id);
    actions.deleteMessage(host.daemon, id);
    return c.redirect(from, 303);
  });
  app.post("/messages/:id/restore", (c) => {
    actions.restoreMessage(host.daemon, c.req.param("id"));
    return c.redirect("/trash", 303);
  });
  app.post("/messages/:id/unread", (c) => {
    actions.markUnread(host.daemon, c.req.param("id"));
    return c.redirect("/inbox", 303);
  });
  app.post("/trash/empty", (c) => {
    actions.emptyTrash(host.daemon);
    return c.redirect("/trash", 303);
  });

  const attachment = (c: Context) => {
    const msg = host.daemon.store.find(c.req.param("id") ?? "");
    const idx = attachmentIndex(c.req.param("idx"));
    const meta = msg?.attachments[idx];
    if (!msg || !meta) throw new UserError("no such attachment", 404);
    return { msg, idx, meta };
  };

  app.get("/messages/:id/attachments/:idx", (c) => {
    const { msg, idx, meta } = attachment(c);
    return downloadResponse(host.daemon.store, msg.rid, idx, meta);
  });

  app.post("/messages/:id/attachments/:idx/open", (c) => {
    const { msg, idx, meta } = attachment(c);
    openDecrypted(meta.name, host.daemon.store.readAttachment(msg.rid, idx));
    return c.html(<span>Opened {meta.name} with its default program.</span>);
  });

  return app;
}

function listItem(s: MessageSummary): ListItem {
  return { id: s.id, from: s.from, to: s.to, subject: s.subject, date: s.date, flags: s.flags, attachments: s.attachments.length };
}
