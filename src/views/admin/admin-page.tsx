/** @jsxImportSource hono/jsx */
// The relay's admin page frame: served on loopback by src/server/admin.ts, with
// htmx and the stylesheet from the relay itself (no CDN, no inline script: the CSP forbids both).

import { LogPanel, PendingPanel, StatusPanel, type LogProps, type PendingProps, type StatusProps } from "./admin-fragments.tsx";

export interface AdminPageProps {
  relayKey: string;
  listen: string[];
  status: StatusProps;
  pending: PendingProps;
  log: LogProps;
}

export function AdminLayout(p: { title: string; shell?: boolean; children: unknown }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content='{"includeIndicatorCSS": false}' />
        <title>{p.title}</title>
        <link rel="stylesheet" href="/assets/admin.css" />
        <script src="/assets/htmx.min.js" defer></script>
        <script src="/assets/session.js" defer></script>
      </head>
      <body data-shell={p.shell ? "" : undefined}>{p.children as never}</body>
    </html>
  );
}

export function AdminPage(p: AdminPageProps) {
  return (
    <AdminLayout title="smsg relay — admin">
      <header>
        <h1>smsg relay</h1>
        <div>
          Relay key: <span class="key">{p.relayKey}</span>
        </div>
        <div>Listening on {p.listen.join(", ")}</div>
      </header>
      <main>
        <StatusPanel {...p.status} />
        <PendingPanel {...p.pending} />
        <LogPanel {...p.log} />
      </main>
    </AdminLayout>
  );
}

/** What a navigation gets: no data; session.js fetches the page with the token (CLIENT.md §2.5). */
export function AdminShell() {
  return <AdminLayout title="smsg relay — admin" shell={true}>{null}</AdminLayout>;
}

export function LoginNeededPage(p: { reason: string }) {
  return (
    <AdminLayout title="smsg relay — log in">
      <h1>smsg relay admin</h1>
      <p>{p.reason}</p>
      <p>
        Open the login link the relay printed when it started, or make a new one with <code>smsg ctrl --data DIR admin-login</code>.
      </p>
    </AdminLayout>
  );
}
