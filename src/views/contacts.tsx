/** @jsxImportSource hono/jsx */
// Contacts and trust: each correspondent's safety number, to compare out of band
// as Signal does, and a warning with Accept or Reject when an identity key changed. Accept
// carries the changed key shown, so it adopts that key or nothing (CLIENT.md §2.5).

import type { ContactView } from "./contact-view.ts";

export function ContactsPage(p: { me: string; contacts: ContactView[]; error?: string }) {
  return (
    <section class="contacts">
      <h1>Contacts</h1>
      {p.error ? (
        <p class="notice error" role="alert">
          Not accepted: {p.error}.
        </p>
      ) : null}
      <p class="hint">
        A safety number is the same on both sides. Read it to each other by phone or in person: if it matches, nobody
        (not even the relay's operator) stands between you.
      </p>
      {p.contacts.length === 0 ? <p class="empty">No contacts yet: they appear when you first write or hear from someone.</p> : null}
      <ul class="contact-list">
        {p.contacts.map((c) => (
          <li class={c.changed ? "changed" : ""}>
            <h2>{c.user}</h2>
            <p>
              Safety number: <code class="safety">{c.safetyNumber}</code>
            </p>
            {c.passwordChangedAt ? (
              <p class="notice password-changed">
                {c.user} changed their password on {c.passwordChangedAt.slice(0, 16).replace("T", " ")} UTC. Their old key
                signed the new one, so their messages go on without a hold; the safety number above is the new one.
              </p>
            ) : null}
            {c.changed ? (
              <div class="warning" role="alert">
                <p>
                  <strong>{c.user}'s identity key changed.</strong> This happens when they set a new password or reinstalled,
                  but it is also what an impostor (or a hostile relay) would look like. Messages to {c.user} are held until you
                  decide. Ask {c.user}, by another channel, to read you the new safety number:
                </p>
                <p>
                  New safety number: <code class="safety">{c.newSafetyNumber}</code>
                </p>
                <form method="post" action={`/contacts/${c.user}/accept`} class="inline">
                  <input type="hidden" name="key" value={c.newIdentity ?? ""} />
                  <button type="submit" class="primary">
                    Accept
                  </button>
                </form>
                <form method="post" action={`/contacts/${c.user}/reject`} class="inline">
                  <button type="submit">Reject</button>
                </form>
              </div>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
