/** @jsxImportSource hono/jsx */
// A folder's message list: sender or recipients, subject, date, attachment mark,
// unread in bold; pages of 50; the search box filters in memory. Returned whole as a page
// (beside the reading pane, which app.js fills on a wide window) or alone as the #list
// fragment for htmx.

export interface ListItem {
  id: string;
  from: string;
  to: string[];
  subject: string;
  date: number;
  flags: string;
  attachments: number;
}

export interface ListProps {
  folder: "inbox" | "outbox" | "queued" | "trash";
  items: ListItem[];
  page: number;
  more: boolean;
  q: string;
}

const FLAG_TEXT: Record<string, string> = {
  S: "delivered",
  Q: "queued",
  W: "waiting at the relay",
  H: "held: identity changed",
  F: "failed",
  U: "unread",
};

export function formatDate(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16);
}

function href(folder: string, page: number, q: string): string {
  const params = new URLSearchParams();
  if (page > 0) params.set("page", String(page));
  if (q) params.set("q", q);
  const s = params.toString();
  return `/${folder}${s ? `?${s}` : ""}`;
}

/** Who a row names: the sender in the Inbox, the recipients of sent mail, both in the Trash. */
function who(folder: ListProps["folder"], m: ListItem): string {
  if (folder === "inbox") return m.from;
  if (folder === "trash") return `${m.from} → ${m.to.join(", ")}`;
  return m.to.join(", ");
}

export function MessageList(p: ListProps) {
  const incoming = p.folder === "inbox";
  return (
    <section id="list" class="list">
      {p.items.length === 0 ? (
        <p class="empty">{p.q ? "No message matches." : "No messages."}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{incoming ? "From" : p.folder === "trash" ? "From → To" : "To"}</th>
              <th scope="col">Subject</th>
              <th scope="col">Date</th>
              <th scope="col">
                <span class="sr">Status</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {p.items.map((m) => (
              <tr class={m.flags.includes("U") ? "unread" : ""} data-id={m.id}>
                <td dir="auto">{who(p.folder, m)}</td>
                <td dir="auto">
                  <a class="open" href={`/messages/${m.id}`}>
                    {m.subject}
                  </a>
                  {m.attachments > 0 ? (
                    <span class="clip" title={`${m.attachments} attachment(s)`} aria-label={`${m.attachments} attachment(s)`}>
                      📎
                    </span>
                  ) : null}
                </td>
                <td class="date">{formatDate(m.date)}</td>
                <td class="flags">
                  {[...m.flags].map((f) => (
                    <span class={`flag flag-${f}`} title={FLAG_TEXT[f] ?? f}>
                      {f}
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {p.folder === "inbox" ? null : (
        <p class="legend">
          {Object.entries(FLAG_TEXT)
            .filter(([f]) => f !== "U")
            .map(([f, text]) => (
              <span>
                <span class={`flag flag-${f}`}>{f}</span> {text}{" "}
              </span>
            ))}
        </p>
      )}
      <nav class="pager" aria-label="Pages">
        {p.page > 0 ? (
          <a href={href(p.folder, p.page - 1, p.q)} hx-get={href(p.folder, p.page - 1, p.q)} hx-target="#list" hx-swap="outerHTML">
            Newer
          </a>
        ) : null}
        {p.more ? (
          <a href={href(p.folder, p.page + 1, p.q)} hx-get={href(p.folder, p.page + 1, p.q)} hx-target="#list" hx-swap="outerHTML">
            Older
          </a>
        ) : null}
      </nav>
    </section>
  );
}

export function FolderPage(p: ListProps & { title: string }) {
  return (
    <>
      <div class="folder-head">
        <h1>{p.title}</h1>
        <form method="get" action={`/${p.folder}`} role="search">
          <input
            type="search"
            name="q"
            value={p.q}
            aria-label="Search"
            placeholder="Search subject, text, names"
            hx-get={`/${p.folder}`}
            hx-trigger="input changed delay:300ms, search"
            hx-target="#list"
            hx-swap="outerHTML"
          />
        </form>
      </div>
      {p.folder === "trash" ? (
        <form method="post" action="/trash/empty" class="inline empty-trash">
          <button type="submit">Empty Trash</button>{" "}
          <span class="hint">removes every message here for good, with its attachments</span>
        </form>
      ) : null}
      <div class="reading">
        <MessageList {...p} />
        <section id="pane" class="pane" aria-label="Reading pane" aria-live="polite">
          <p class="empty">Select a message to read it here.</p>
        </section>
      </div>
    </>
  );
}
