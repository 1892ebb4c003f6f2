/** @jsxImportSource hono/jsx */
// Contacts in the mailbox (CLIENT.md §2.6): every pinned contact with its safety number, and
// for a changed identity key Accept and Reject (SPEC.md §5.1, SECURITY.md §5).

import { Hono, type Context } from "hono";
import { z } from "zod";
import { UserError } from "../user-error.ts";
import { ACCEPT_KEY, contactView } from "../contact-list.ts";
import { ContactsPage } from "../../views/contacts.tsx";
import { form } from "../../web/form.ts";
import { page, type Mailbox } from "./context.tsx";

// The form carries the key whose safety number the page showed: Accept adopts that key or
// nothing (a relay may have swapped in another since the page was read).
const acceptForm = z.object({
  key: z.string().catch("").pipe(z.string().regex(ACCEPT_KEY, "Accept must name the key it accepts: reload the Contacts page")),
});

export function contactsRoutes(m: Mailbox): Hono {
  const { host } = m;
  const app = new Hono();

  const contactsPage = (c: Context, error?: string) => {
    const me = { user: host.user, identity: host.daemon.id.identity.publicKey };
    const contacts = host.daemon.store.contacts().map((k) => contactView(me, k));
    return page(m, c, "contacts", "Contacts", <ContactsPage me={host.user} contacts={contacts} error={error} />);
  };

  app.get("/contacts", (c) => contactsPage(c));

  app.post("/contacts/:user/accept", form(acceptForm), (c) => {
    try {
      host.daemon.acceptIdentity(c.req.param("user"), new Uint8Array(Buffer.from(c.req.valid("form").key, "hex")));
    } catch (e) {
      if (e instanceof UserError && e.status === 409) {
        c.status(409);
        return contactsPage(c, e.message);
      }
      throw e;
    }
    return c.redirect("/contacts", 303);
  });

  app.post("/contacts/:user/reject", (c) => {
    host.daemon.rejectIdentity(c.req.param("user"));
    return c.redirect("/contacts", 303);
  });

  return app;
}
