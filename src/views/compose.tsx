/** @jsxImportSource hono/jsx */
// The Send Mail form: To, Subject and Message are required, with the messages
// next to their fields; Get Connected Users fills To; attachments upload (with progress)
// before Send, which stays disabled until they are in; app.js saves it as a draft as it is
// typed. And the Drafts folder.

import { formatDate } from "./message-list.tsx";

export interface ComposeProps {
  to: string;
  subject: string;
  body: string;
  attachments: { att: string; name: string; size: number }[];
  errors: Partial<Record<"to" | "subject" | "body" | "form", string>>;
  /** Where the cursor goes in the text: the empty top (top-posting) or the end. */
  cursor: "start" | "end";
  /** The draft this form saves into (app.js fills it after the first save); "" for none yet. */
  draft: string;
}

function FieldError(p: { id: string; text: string | undefined }) {
  return p.text ? (
    <p class="field-error" id={p.id} role="alert">
      {p.text}
    </p>
  ) : null;
}

export function ComposeForm(p: ComposeProps) {
  return (
    <form id="compose" class="compose" method="post" action="/send" hx-post="/send" hx-target="#compose" hx-swap="outerHTML" data-cursor={p.cursor}>
      <h1>Send Mail</h1>
      <input type="hidden" name="draft" id="draft" value={p.draft} />
      <p id="draft-state" class="hint" role="status" aria-live="polite">
        {p.draft ? "Draft saved." : ""}
      </p>
      <FieldError id="form-error" text={p.errors.form} />
      <div class="field">
        <label for="to">To</label>
        <div class="to-row">
          <input id="to" name="to" value={p.to} placeholder="user, user" autocomplete="off" aria-describedby={p.errors.to ? "to-error" : undefined} aria-invalid={p.errors.to ? "true" : undefined} />
          <button type="button" hx-get="/users" hx-target="#connected-users" hx-swap="innerHTML">
            Get Connected Users
          </button>
        </div>
        <FieldError id="to-error" text={p.errors.to} />
        <div id="connected-users" class="connected-users" aria-live="polite"></div>
      </div>
      <div class="field">
        <label for="subject">Subject</label>
        <input id="subject" name="subject" value={p.subject} dir="auto" aria-describedby={p.errors.subject ? "subject-error" : undefined} aria-invalid={p.errors.subject ? "true" : undefined} />
        <FieldError id="subject-error" text={p.errors.subject} />
      </div>
      <div class="field">
        <label for="body">Message</label>
        <textarea id="body" name="body" rows={14} dir="auto" aria-describedby={p.errors.body ? "body-error" : undefined} aria-invalid={p.errors.body ? "true" : undefined}>
          {/* HTML drops one newline right after <textarea>: give it one to drop, so a reply's empty top survives */}
          {"\n" + p.body}
        </textarea>
        <FieldError id="body-error" text={p.errors.body} />
      </div>
      <div class="field">
        <label for="attachments">Attachments</label>
        <input id="attachments" type="file" multiple />
        <ul id="uploads" class="uploads">
          {p.attachments.map((a) => (
            <li>
              <input type="hidden" name="att" value={a.att} />
              <input type="hidden" name="att_name" value={a.name} />
              <span dir="auto">{a.name}</span> <progress max="1" value="1" aria-label={`Uploaded ${a.name}`}></progress>
            </li>
          ))}
        </ul>
      </div>
      <button type="submit" class="primary" id="send">
        Send
      </button>
    </form>
  );
}

export function SentNotice(p: { id: string; delivered: string[]; queued: string[] }) {
  return (
    <section id="compose" class="sent" role="status">
      <h1>Message sent</h1>
      {p.delivered.length > 0 ? <p>Sending to {p.delivered.join(", ")}.</p> : null}
      {p.queued.length > 0 ? (
        <p>
          Queued for {p.queued.join(", ")}: not connected now; it will go when they connect.
        </p>
      ) : null}
      <p>
        <a href={`/messages/${p.id}`}>View it in the Outbox</a> · <a href="/compose">Write another</a>
      </p>
    </section>
  );
}

export function ConnectedUsers(p: { users: string[]; error?: string }) {
  if (p.error) return <p class="field-error">{p.error}</p>;
  if (p.users.length === 0) return <p>Nobody is connected.</p>;
  return (
    <ul class="user-picks" aria-label="Connected users">
      {p.users.map((u) => (
        <li>
          <button type="button" class="user-pick" data-user={u}>
            {u}
          </button>
        </li>
      ))}
    </ul>
  );
}

export function DraftsPage(p: { drafts: { id: string; to: string; subject: string; updated: number; attachments: unknown[] }[] }) {
  return (
    <>
      <div class="folder-head">
        <h1>Drafts</h1>
      </div>
      <section id="list" class="list">
        {p.drafts.length === 0 ? (
          <p class="empty">No drafts.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">To</th>
                <th scope="col">Subject</th>
                <th scope="col">Saved</th>
                <th scope="col">
                  <span class="sr">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {p.drafts.map((d) => (
                <tr data-id={d.id}>
                  <td dir="auto">{d.to}</td>
                  <td dir="auto">
                    <a class="open" href={`/compose?draft=${d.id}`}>
                      {d.subject === "" ? "(no subject)" : d.subject}
                    </a>
                    {d.attachments.length > 0 ? <span class="clip" aria-label={`${d.attachments.length} attachment(s)`}>📎</span> : null}
                  </td>
                  <td class="date">{formatDate(d.updated)}</td>
                  <td>
                    <form method="post" action={`/drafts/${d.id}/delete`} class="inline">
                      <button type="submit" aria-label={`Delete draft ${d.subject === "" ? "(no subject)" : d.subject}`}>
                        Delete draft
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
