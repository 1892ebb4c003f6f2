/** @jsxImportSource hono/jsx */
// The mailbox page frame: header with folders, connection state and Lock, the
// message window that new mail raises, and the only scripts: htmx and our app.js, both
// served by the daemon itself (no CDN, no inline script: the CSP forbids both).

import type { Child } from "hono/jsx";

export interface Conn {
  state: string; // connected, retrying, ...
  text: string; // what the person reads
}

export interface LayoutProps {
  title: string;
  user: string;
  active: "inbox" | "outbox" | "queued" | "drafts" | "trash" | "contacts" | "settings" | "compose" | "message";
  conn: Conn;
  unread: number;
  popupReturnSeconds: number;
  sound: boolean;
  notificationDetails: boolean;
  warnings?: number; // contacts whose identity changed
  children: Child;
}

const FOLDERS = [
  ["inbox", "/inbox", "Inbox"],
  ["outbox", "/outbox", "Outbox"],
  ["queued", "/queued", "Queued"],
  ["drafts", "/drafts", "Drafts"],
  ["trash", "/trash", "Trash"],
  ["contacts", "/contacts", "Contacts"],
  ["settings", "/settings", "Settings"],
] as const;

/** The head every mailbox page, the shell and the print view share: served assets only, no inline script. */
function PageHead(p: { title: string }) {
  return (
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="htmx-config" content='{"includeIndicatorCSS": false}' />
      <title>{p.title}</title>
      <link rel="icon" href="data:," />
      <link rel="stylesheet" href="/assets/app.css" />
      <script src="/assets/htmx.min.js" defer></script>
      <script src="/assets/session.js" defer></script>
      <script src="/assets/app.js" defer></script>
    </head>
  );
}

export function Layout(p: LayoutProps) {
  const title = `${p.unread > 0 ? `(${p.unread}) ` : ""}${p.title} — smsg`;
  return (
    <html lang="en">
      <PageHead title={title} />
      <body data-popup-return={String(p.popupReturnSeconds)} data-sound={p.sound ? "on" : "off"} data-notify={p.notificationDetails ? "details" : "plain"} data-title={p.title}>
        <header class="top">
          <span class="brand">smsg</span>
          <span class="who">{p.user}</span>
          <span id="conn" class={`conn conn-${p.conn.state === "connected" ? "up" : "down"}`} role="status" aria-live="polite">
            {p.conn.text}
          </span>
          <form method="get" action="/compose" class="inline">
            <button type="submit" class="primary">Send Message</button>
          </form>
          <form method="post" action="/lock" class="inline">
            <button type="submit">Lock</button>
          </form>
        </header>
        <nav class="folders" aria-label="Folders">
          {FOLDERS.map(([key, href, label]) => (
            <a href={href} class={p.active === key ? "active" : ""} aria-current={p.active === key ? "page" : undefined}>
              {label}
              {key === "inbox" && p.unread > 0 ? <span class="badge" id="unread-badge">{p.unread}</span> : null}
              {key === "contacts" && (p.warnings ?? 0) > 0 ? <span class="badge warn">!</span> : null}
            </a>
          ))}
        </nav>
        <main id="main">{p.children}</main>
        <div id="popup" class="popup" hidden role="alertdialog" aria-labelledby="popup-title">
          <button type="button" id="popup-close" class="popup-close" aria-label="Close">
            ×
          </button>
          <button type="button" id="popup-body" class="popup-body" title="Hide for now">
            <strong id="popup-title">New mail</strong>
            <span id="popup-from"></span>
            <span id="popup-subject" dir="auto"></span>
          </button>
          <a id="popup-read" href="/inbox">
            Read it
          </a>
        </div>
        <audio id="popup-sound" src="/assets/new-message.wav" preload="auto"></audio>
        <KeyboardHelp />
      </body>
    </html>
  );
}

/** The keyboard shortcuts (app.js acts on them), shown by `?` and closed by Escape or Close. */
export const SHORTCUTS: [string, string][] = [
  ["j", "next message"],
  ["k", "previous message"],
  ["o or Enter", "open the selected message"],
  ["r", "reply"],
  ["a", "reply all"],
  ["f", "forward"],
  ["#", "delete (move to the Trash)"],
  ["c", "compose a new message"],
  ["/", "search this folder"],
  ["?", "show or hide this help"],
];

function KeyboardHelp() {
  return (
    <div id="help" class="help" role="dialog" aria-modal="true" aria-labelledby="help-title" hidden>
      <h2 id="help-title">Keyboard shortcuts</h2>
      <table>
        <tbody>
          {SHORTCUTS.map(([key, what]) => (
            <tr>
              <th scope="row">
                <kbd>{key}</kbd>
              </th>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" id="help-close">
        Close
      </button>
    </div>
  );
}

/**
 * What a navigation gets (CLIENT.md §2.5): no data, only the scripts; session.js fetches the
 * page with the token and puts its body in place of this one.
 */
export function Shell() {
  return (
    <html lang="en">
      <PageHead title="smsg" />
      <body data-shell=""></body>
    </html>
  );
}

export function connText(s: { state: string; relay: string; user: string; error: string | null; retryAt: number | null }, now: number): Conn {
  switch (s.state) {
    case "connected":
      return { state: s.state, text: `Connected to ${s.relay}` };
    case "retrying": {
      const secs = s.retryAt ? Math.max(0, Math.ceil((s.retryAt - now) / 1000)) : 0;
      return { state: s.state, text: `Disconnected — retrying in ${secs} s${s.error ? `: ${s.error.replace(/; retrying in \d+ s$/, "")}` : ""}` };
    }
    case "refused":
      return { state: s.state, text: `Refused: ${s.error ?? ""}` };
    default:
      return { state: s.state, text: s.error ?? s.state };
  }
}

/** A page without the folder bar: the print view of a message (its Print button is app.js's). */
export function Bare(p: { title: string; children: Child }) {
  return (
    <html lang="en">
      <PageHead title={`${p.title} — smsg`} />
      <body class="bare">
        <p class="no-print">
          <button type="button" id="print">
            Print
          </button>
        </p>
        {p.children}
      </body>
    </html>
  );
}
