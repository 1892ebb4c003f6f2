/** @jsxImportSource hono/jsx */
// Reading mail in the mailbox (CLIENT.md §2.6): the folders Inbox, Outbox and Queued with
// paging and search (§8.7), a message, and its attachments' Save (a signed download link,
// §8.5 step 6) and Open (a decrypted copy for the default program, §7.5).

import { Hono, type Context } from "hono";
import { getCookie } from "hono/cookie";
import { UserError } from "../user-error.ts";
import type { MessageSummary } from "../store.ts";
import { openDecrypted } from "../open-file.ts";
import { attachmentIndex, downloadResponse } from "../attachment-http.ts";
import { FolderPage, MessageList, type ListItem } from "../../views/message-list.tsx";
import { MessageView } from "../../views/message-view.tsx";
import { page, type Mailbox } from "./context.tsx";

const PAGE = 50;
type Folder = "inbox" | "outbox" | "queued";
const TITLES: Record<Folder, string> = { inbox: "Inbox", outbox: "Outbox", queued: "Queued" };

/** An attachment download's path: it keeps its own strict headers and is checked by its signed link. */
export const DOWNLOAD_PATH = /^\/messages\/[^/]+\/attachments\/\d+$/;

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
      const r = d.search.search(q, name === "inbox" ? "in" : "out", PAGE, pageNo * PAGE);
      items = d.store.byRids(r.rids);
      if (name === "queued") items = items.filter((s) => s.flags === "Q" || s.flags === "H"); // as listWaiting
      more = r.more;
    } else {
      const opts = { limit: PAGE + 1, offset: pageNo * PAGE };
      items = name === "inbox" ? d.store.list("in", opts) : name === "outbox" ? d.store.list("out", opts) : d.store.listWaiting(opts);
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

  app.get("/messages/:id", (c) => {
    const msg = host.daemon.show(c.req.param("id"));
    return page(
      m,
      c,
      "message",
      msg.subject,
      <MessageView
        id={msg.id}
        folder={msg.folder}
        from={msg.from}
        to={msg.to}
        subject={msg.subject}
        date={msg.date}
        body={msg.body}
        attachments={msg.attachments.map((a, i) => {
          const path = `/messages/${msg.id}/attachments/${i}`;
          return { ...a, href: `${path}?dl=${sessions.sign(getCookie(c, m.cookie()), path)}` };
        })}
        deliveries={msg.deliveries}
      />,
    );
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
