/** @jsxImportSource hono/jsx */
// Mailbox settings (CLIENT.md §2.7): sound, what a system notification shows, top- or
// bottom-posting, idle lock, and how soon a clicked message window comes back.

import type { Settings } from "./mailbox-settings.ts";

export function SettingsPage(p: { settings: Settings; saved: boolean; passwordError?: string }) {
  const s = p.settings;
  return (
    <section class="settings">
      <h1>Settings</h1>
      {p.saved ? <p role="status">Saved.</p> : null}
      <form method="post" action="/settings">
        <div class="field">
          <label>
            <input type="checkbox" name="sound" value="on" checked={s.sound} /> Play a sound when a message arrives
          </label>
        </div>
        <div class="field">
          <label>
            <input type="checkbox" name="notificationDetails" value="on" checked={s.notificationDetails} /> Show the sender and
            subject in system notifications
          </label>
          <p class="hint">
            Off, a notification says only "New mail": the system keeps notifications in its own history, where they stay
            readable after the mailbox locks.
          </p>
        </div>
        <fieldset>
          <legend>When replying, write</legend>
          <label>
            <input type="radio" name="posting" value="top" checked={s.posting === "top"} /> above the quoted message (top-posting)
          </label>
          <label>
            <input type="radio" name="posting" value="bottom" checked={s.posting === "bottom"} /> below it (bottom-posting)
          </label>
        </fieldset>
        <div class="field">
          <label for="idle">Lock the mailbox after this many idle minutes</label>
          <input id="idle" name="idleLockMinutes" type="number" min="1" max="1440" value={String(s.idleLockMinutes)} />
        </div>
        <div class="field">
          <label for="popup">A clicked message window comes back after (seconds)</label>
          <input id="popup" name="popupReturnSeconds" type="number" min="1" max="3600" value={String(s.popupReturnSeconds)} />
        </div>
        <button type="submit" class="primary">
          Save
        </button>
      </form>
      <form method="post" action="/settings/password" class="change-password">
        <h2>Change password</h2>
        <p class="hint">
          Your keys come from your password, so a new password gives new keys: the relay and your contacts follow by
          themselves (your contacts see that you changed your password, and your safety number with them changes). Every
          browser then unlocks again with the new password. Connected to the relay only.
        </p>
        {p.passwordError ? (
          <p class="notice error" role="alert">
            Password not changed: {p.passwordError}
          </p>
        ) : null}
        <div class="field">
          <label for="current-password">Current password</label>
          <input id="current-password" name="password" type="password" autocomplete="current-password" required />
        </div>
        <div class="field">
          <label for="new-password">New password</label>
          <input id="new-password" name="newPassword" type="password" autocomplete="new-password" required />
        </div>
        <div class="field">
          <label for="new-password-again">New password again</label>
          <input id="new-password-again" name="newPasswordAgain" type="password" autocomplete="new-password" required />
        </div>
        <button type="submit">Change password</button>
      </form>
    </section>
  );
}
