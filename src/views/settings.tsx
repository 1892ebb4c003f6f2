/** @jsxImportSource hono/jsx */
// Mailbox settings (CLIENT.md §2.7): sound, what a system notification shows, top- or
// bottom-posting, idle lock, and how soon a clicked message window comes back.

import type { Settings } from "./mailbox-settings.ts";

export function SettingsPage(p: { settings: Settings; saved: boolean }) {
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
    </section>
  );
}
