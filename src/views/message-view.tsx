/** @jsxImportSource hono/jsx */
// One message: headers, the body with its line breaks, attachments with Open
// (hands a temporary decrypted copy to the default program) and Save (a download, never
// rendered here), the actions (Reply, Reply All, Forward, Delete or Restore, Mark as unread,
// Print, Export .eml), and per-recipient delivery state for sent mail. PrintView is the same
// message alone, for paper.

import { formatDate } from "./message-list.tsx";

export interface ViewProps {
  id: string;
  folder: "in" | "out";
  trashed: boolean;
  /** The signed link of "Export .eml" (a download cannot carry the page token). */
  emlHref: string;
  from: string;
  to: string[];
  subject: string;
  date: number;
  body: string;
  /** `href`: the Save link, signed for this session (a download cannot carry the page token). */
  attachments: { name: string; size: number; href: string }[];
  deliveries: { recipient: string; state: string; error: string | null }[];
}

export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A GET form to the Send Mail form, prefilled from this message by `param`. */
function ComposeFrom(p: { param: string; id: string; label: string; shortcut: string }) {
  return (
    <form method="get" action="/compose" class="inline">
      <input type="hidden" name={p.param} value={p.id} />
      <button type="submit" data-key={p.shortcut}>
        {p.label}
      </button>
    </form>
  );
}

/** A plain POST form (session.js adds its token): the answer redirects. */
function Post(p: { action: string; label: string; shortcut?: string }) {
  return (
    <form method="post" action={p.action} class="inline">
      <button type="submit" data-key={p.shortcut}>
        {p.label}
      </button>
    </form>
  );
}

/** Reply, Reply All, Forward, Delete or Restore, Mark as unread, Print, Export .eml. */
function MessageActions(p: ViewProps) {
  const base = `/messages/${p.id}`;
  return (
    <div class="actions" role="group" aria-label="Message actions">
      {p.folder === "in" ? <ComposeFrom param="reply" id={p.id} label="Reply" shortcut="r" /> : null}
      <ComposeFrom param="replyall" id={p.id} label="Reply All" shortcut="a" />
      <ComposeFrom param="forward" id={p.id} label="Forward" shortcut="f" />
      {p.trashed ? <Post action={`${base}/restore`} label="Restore" /> : <Post action={`${base}/delete`} label="Delete" shortcut="#" />}
      {p.folder === "in" ? <Post action={`${base}/unread`} label="Mark as unread" /> : null}
      <a class="button" href={`${base}/print`}>
        Print
      </a>
      <a class="button" href={p.emlHref} download={`${p.id}.eml`}>
        Export .eml
      </a>
    </div>
  );
}

/** From, To and Date as rows of the message's header list (the message page and its print view). */
function HeaderRows(p: Pick<ViewProps, "from" | "to" | "date">) {
  return (
    <>
      <dt>From</dt>
      <dd dir="auto">{p.from}</dd>
      <dt>To</dt>
      <dd dir="auto">{p.to.join(", ")}</dd>
      <dt>Date</dt>
      <dd>{formatDate(p.date)}</dd>
    </>
  );
}

export function MessageView(p: ViewProps) {
  return (
    <article class="message">
      <h1 dir="auto">{p.subject}</h1>
      <dl class="headers">
        <HeaderRows {...p} />
      </dl>
      <MessageActions {...p} />
      <div class="body" dir="auto">
        {p.body}
      </div>
      {p.attachments.length > 0 ? (
        <section class="attachments" aria-label="Attachments">
          <h2>Attachments</h2>
          <ul>
            {p.attachments.map((a, i) => (
              <li>
                <span class="name" dir="auto">
                  {a.name}
                </span>{" "}
                <span class="size">{formatSize(a.size)}</span>{" "}
                <button type="button" hx-post={`/messages/${p.id}/attachments/${i}/open`} hx-target="next .open-result" hx-swap="innerHTML">
                  Open
                </button>{" "}
                <a class="button" href={a.href} download={a.name}>
                  Save
                </a>
                <span class="open-result" role="status"></span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {p.folder === "out" ? (
        <section class="deliveries" aria-label="Delivery">
          <h2>Delivery</h2>
          <ul>
            {p.deliveries.map((d) => (
              <li class={`delivery-${d.state}`}>
                {d.recipient}: {d.state}
                {d.error ? ` — ${d.error}` : ""}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </article>
  );
}

/** The print view: the message without folders, buttons or links (CLIENT.md §2.6). */
export function PrintView(p: Pick<ViewProps, "subject" | "from" | "to" | "date" | "body" | "attachments">) {
  return (
    <article class="message print-view">
      <h1 dir="auto">{p.subject}</h1>
      <dl class="headers">
        <HeaderRows {...p} />
        {p.attachments.length > 0 ? (
          <>
            <dt>Attachments</dt>
            <dd dir="auto">{p.attachments.map((a) => `${a.name} (${formatSize(a.size)})`).join(", ")}</dd>
          </>
        ) : null}
      </dl>
      <div class="body" dir="auto">
        {p.body}
      </div>
    </article>
  );
}
