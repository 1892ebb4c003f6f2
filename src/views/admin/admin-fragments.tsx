/** @jsxImportSource hono/jsx */
// The admin page's parts, each also an htmx fragment: the live numbers with the
// connected users, the pending registrations with their Approve forms, and the log tail.
// Pure functions of props; JSX escapes every value (user ids, addresses, log lines).

/** The panels refresh themselves: such requests do not keep the session alive (CLIENT.md §2.5). */
const AUTO = '{"X-Smsg-Auto": "1"}';

export interface StatusProps {
  online: string[];
  connections: number;
  transfers: number;
  messages: number;
  bytes: string; // already formatted
  logins: number;
  failedLogins: number;
  pending: number;
}

export function StatusPanel(p: StatusProps) {
  return (
    <div id="status" hx-get="/fragments/status" hx-trigger="every 5s" hx-swap="outerHTML" hx-headers={AUTO}>
      <ul class="stats">
        <li>
          <b>{p.online.length}</b> connected users
        </li>
        <li>
          <b>{p.connections}</b> connections
        </li>
        <li>
          <b>{p.messages}</b> messages, <b>{p.bytes}</b> relayed
        </li>
        <li>
          <b>{p.transfers}</b> transfers now
        </li>
        <li>
          <b>{p.logins}</b> logins, <b>{p.failedLogins}</b> failed
        </li>
        <li>
          <b>{p.pending}</b> pending registrations
        </li>
      </ul>
      <h2>Connected users</h2>
      {p.online.length === 0 ? (
        <p class="empty">Nobody is connected.</p>
      ) : (
        <ul id="online">
          {p.online.map((u) => (
            <li>{u}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export interface PendingItem {
  user: string;
  code: string; // registration code, smsg1...
  address: string;
  time: string; // ISO
  /** The user already has a code: approving replaces it, so the form requires the code. */
  hasCode: boolean;
}

export interface PendingProps {
  items: PendingItem[];
  notice?: { text: string; error: boolean };
}

export function PendingPanel(p: PendingProps) {
  return (
    <section id="pending">
      <h2>
        Pending registrations{" "}
        <button type="button" hx-get="/fragments/pending" hx-target="#pending" hx-swap="outerHTML">
          Refresh
        </button>
      </h2>
      {p.notice ? (
        <p class={p.notice.error ? "notice error" : "notice"} role={p.notice.error ? "alert" : "status"}>
          {p.notice.text}
        </p>
      ) : null}
      {p.items.length === 0 ? (
        <p class="empty">No pending registrations.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>User</th>
              <th>Code presented</th>
              <th>From</th>
              <th>Approve</th>
            </tr>
          </thead>
          <tbody>
            {p.items.map((i) => (
              <tr id={`pending-${i.user}`}>
                <td>{i.user}</td>
                <td class="code">{i.code}</td>
                <td>
                  {i.address}
                  <br />
                  <small>{i.time}</small>
                </td>
                <td>
                  <form class="approve" method="post" action={`/pending/${i.user}/approve`} hx-post={`/pending/${i.user}/approve`} hx-target="#pending" hx-swap="outerHTML">
                    <input
                      name="code"
                      placeholder={i.hasCode ? "the new code they sent you" : "the code they sent you"}
                      required
                      autocomplete="off"
                      aria-label={`registration code from ${i.user}`}
                    />
                    <button type="submit">Approve</button>
                  </form>
                  {i.hasCode ? <small>{i.user} already has a code: approving replaces it.</small> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export interface LogProps {
  file: string;
  lines: string[];
}

export function LogPanel(p: LogProps) {
  return (
    <section id="log" hx-get="/fragments/log" hx-trigger="every 5s" hx-swap="outerHTML" hx-headers={AUTO}>
      <h2>Today's log</h2>
      <p>
        <small class="key">{p.file}</small>
      </p>
      {p.lines.length === 0 ? <p class="empty">Nothing logged today yet.</p> : <pre class="log">{p.lines.join("\n")}</pre>}
    </section>
  );
}
