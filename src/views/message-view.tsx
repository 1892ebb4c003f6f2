/** @jsxImportSource hono/jsx */
// One message: headers, the body with its line breaks, attachments with Open
// (hands a temporary decrypted copy to the default program) and Save (a download, never
// rendered here), Reply, and per-recipient delivery state for sent mail.

import { formatDate } from "./message-list.tsx";

export interface ViewProps {
  id: string;
  folder: "in" | "out";
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

export function MessageView(p: ViewProps) {
  return (
    <article class="message">
      <h1 dir="auto">{p.subject}</h1>
      <dl class="headers">
        <dt>From</dt>
        <dd dir="auto">{p.from}</dd>
        <dt>To</dt>
        <dd dir="auto">{p.to.join(", ")}</dd>
        <dt>Date</dt>
        <dd>{formatDate(p.date)}</dd>
      </dl>
      {p.folder === "in" ? (
        <form method="get" action="/compose" class="inline">
          <input type="hidden" name="reply" value={p.id} />
          <button type="submit">Reply</button>
        </form>
      ) : null}
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
