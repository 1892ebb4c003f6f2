/** @jsxImportSource hono/jsx */
// The Unlock page: every browser session starts here, even when the daemon
// itself was started with a password file. A plain form: it works before any script runs.

export function UnlockPage(p: { user: string; error?: string; daemonLocked: boolean }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Unlock — smsg</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/assets/app.css" />
      </head>
      <body class="unlock">
        <main class="card">
          <h1>smsg</h1>
          <p>
            Mailbox of <strong>{p.user}</strong>
            {p.daemonLocked ? ". The client is locked: unlocking it also connects it to the relay." : "."}
          </p>
          <form method="post" action="/unlock">
            <input type="text" name="username" value={p.user} autocomplete="username" hidden readonly />
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required autofocus />
            {p.error ? (
              <p class="error" role="alert">
                {p.error}
              </p>
            ) : null}
            <button type="submit" class="primary">
              Unlock
            </button>
          </form>
        </main>
      </body>
    </html>
  );
}
