/** @jsxImportSource hono/jsx */
// Writing mail in the mailbox (CLIENT.md §2.6–§2.8): the Send Mail form with Reply, Reply All
// and Forward prefilled, drafts (saved as typed, listed, resumed), the connected users,
// attachment uploads, and Send. The form's checks are its schema, each
// failure tied to its field, so the form comes back with the sentence beside To, Subject or
// Message; the daemon then checks again (it is the authority, for the API too).

import { Hono, type Context } from "hono";
import { z } from "zod";
import { UserError } from "../user-error.ts";
import { uploadDraft } from "../attachment-http.ts";
import { isUserId } from "../../protocol/user-id.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { MAX_ATTACHMENTS, MAX_SUBJECT_CHARS, encodeHeader, subjectLength, validateName } from "../../protocol/envelope.ts";
import { ComposeForm, ConnectedUsers, DraftsPage, SentNotice, type ComposeProps } from "../../views/compose.tsx";
import * as actions from "../mail-actions.ts";
import { form, repeated, text } from "../../web/form.ts";
import { WebError } from "../../web/web-error.ts";
import { page, type Mailbox } from "./context.tsx";
import { forwardBody, forwardSubject, quoteOf, replyAllRecipients, replySubject } from "../drafting.ts";

/** The recipients of a To field as the daemon reads them: comma-separated, trimmed, lowercase, once each. */
const recipients = (to: string): string[] => [...new Set(to.split(",").map((u) => u.trim().toLowerCase()).filter((u) => u !== ""))];

/** The Send Mail form: `to` (comma-separated), `subject`, `body`, and `att` / `att_name` in pairs. */
function sendForm(m: Mailbox) {
  return z
    .object({ to: text, subject: text, body: text, att: repeated, att_name: repeated, draft: text })
    .superRefine((f, ctx) => {
      const fail = (field: "to" | "subject" | "body" | "form", message: string) => ctx.addIssue({ code: "custom", path: [field], message });
      const to = recipients(f.to);
      if (to.length === 0) fail("to", "To is required: at least one recipient.");
      const bad = to.find((u) => !isUserId(u));
      if (bad !== undefined) fail("to", `"${bad}" is not a valid user id`);
      if (f.subject.trim() === "") fail("subject", "Subject is required.");
      else if (subjectLength(f.subject) > MAX_SUBJECT_CHARS) fail("subject", `Subject is longer than ${MAX_SUBJECT_CHARS} characters`);
      if (f.body.trim() === "") fail("body", "Message is required.");
      const atts = attachmentsOf(m, f);
      if (atts.length > MAX_ATTACHMENTS) fail("form", `at most ${MAX_ATTACHMENTS} attachments per message`);
      else if (new Set(atts.map((a) => a.att)).size !== atts.length) fail("form", "the same upload is attached twice");
      for (const a of atts) {
        const problem = nameProblem(a.name);
        if (problem !== undefined) fail("form", `attachment "${a.name}": ${problem}`);
        else if (m.host.daemon.store.draftSize(a.att) === undefined) fail("form", `attachment ${a.name} was not uploaded (or was already sent)`);
      }
      // The daemon's header limit, measured as the daemon measures it (a fixed-width id and date).
      const header = { v: 1, id: "0".repeat(32), from: m.host.user, to, date: Date.now(), subject: f.subject, body: f.body, attachments: atts };
      if (!fits(header)) fail("body", "the message text is too long (the header is limited to 4 MiB)");
    });
}

type SendFields = { att: string[]; att_name: string[] };

function attachmentsOf(m: Mailbox, f: SendFields) {
  return f.att.map((att, i) => ({ att, name: f.att_name[i] ?? "attachment", size: m.host.daemon.store.draftSize(att) ?? 0 }));
}

/** What is wrong with an attachment name (SPEC.md §5.3), in the daemon's words; undefined if nothing. */
const nameProblem = (name: string): string | undefined => {
  try {
    validateName(name);
    return undefined;
  } catch (e) {
    return e instanceof ProtocolError ? e.message.slice(e.code.length + 2) : String(e);
  }
};

const fits = (h: Parameters<typeof encodeHeader>[0]): boolean => {
  try {
    encodeHeader(h);
    return true;
  } catch {
    return false;
  }
};

export function composeRoutes(m: Mailbox): Hono {
  const { host } = m;
  const app = new Hono();

  app.get("/compose", (c) => {
    const q = (k: string) => c.req.query(k);
    const d = host.daemon;
    let props: ComposeProps = { to: q("to") ?? "", subject: "", body: "", attachments: [], errors: {}, cursor: "start", draft: "" };
    const original = (id: string | undefined) => (id ? d.store.find(id) : undefined);
    const posting = d.settings().posting;
    let msg;
    if ((msg = original(q("reply")))) props = { ...props, ...replyDraft(msg, posting) };
    else if ((msg = original(q("replyall")))) props = { ...props, ...replyDraft(msg, posting, replyAllRecipients(msg, host.user).join(", ")) };
    else if ((msg = original(q("forward")))) {
      // The attachments are copied from the store now, so the form lists them like uploads (§2.8).
      props = { ...props, to: "", subject: forwardSubject(msg.subject), body: `\n\n${forwardBody("", msg)}`, attachments: actions.copyAttachments(d, msg), cursor: "start" };
    } else if (q("draft")) {
      const dr = d.store.draft(q("draft")!);
      if (!dr) throw new UserError(`no draft ${q("draft")}`, 404);
      props = { ...props, to: dr.to, subject: dr.subject, body: dr.body, attachments: dr.attachments, cursor: "end", draft: dr.id };
    }
    return page(m, c, "compose", "Send Mail", <ComposeForm {...props} />);
  });

  // Drafts (§2.8): the form saves itself here as it is typed and when the page is left.
  app.post("/drafts", form(z.object({ draft: text, to: text, subject: text, body: text, att: repeated, att_name: repeated })), (c) => {
    const f = c.req.valid("form");
    const id = actions.saveDraft(host.daemon, {
      id: f.draft === "" ? undefined : f.draft,
      to: f.to,
      subject: f.subject,
      body: f.body,
      attachments: f.att.map((att, i) => ({ att, name: f.att_name[i] ?? "attachment" })),
    });
    return c.json({ draft: id });
  });
  app.get("/drafts", (c) => page(m, c, "drafts", "Drafts", <DraftsPage drafts={host.daemon.store.drafts()} />));
  app.post("/drafts/:id/delete", (c) => {
    actions.deleteDraft(host.daemon, c.req.param("id"));
    return c.redirect("/drafts", 303);
  });

  app.get("/users", async (c) => {
    try {
      const users = (await host.daemon.connectedUsers()).filter((u) => u !== host.user);
      return c.html(<ConnectedUsers users={users} />);
    } catch (e) {
      return c.html(<ConnectedUsers users={[]} error={e instanceof Error ? e.message : String(e)} />);
    }
  });

  app.post("/attachments", async (c) => c.json(await uploadDraft(host.daemon.store, c.req.raw.body, Date.now())));

  /** The form again, as it was sent, with each sentence of `err` beside its field. */
  const again = async (c: Context, err: WebError) => {
    const raw = await c.req.formData();
    const field = (k: string) => String(raw.get(k) ?? "");
    const attachments = attachmentsOf(m, { att: raw.getAll("att").map(String), att_name: raw.getAll("att_name").map(String) });
    const status = err.status === 503 ? 503 : 400;
    return c.html(
      <ComposeForm to={field("to")} subject={field("subject")} body={field("body")} attachments={attachments} errors={err.fields} cursor="end" draft={field("draft")} />,
      status,
    );
  };

  app.post("/send", form(sendForm(m), (err, c) => again(c, err)), async (c) => {
    const f = c.req.valid("form");
    try {
      const r = await actions.sendDraft(host.daemon, {
        to: f.to.split(","),
        subject: f.subject,
        body: f.body,
        attachments: attachmentsOf(m, f).map(({ att, name }) => ({ att, name })),
        draft: f.draft,
      });
      return c.html(<SentNotice id={r.id} queued={r.queued} delivered={recipients(f.to).filter((u) => !r.queued.includes(u))} />);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      // The schema has checked all the form can check by itself; what the daemon still
      // refuses is the relay's answer on a recipient (To) or a lost link (the whole form).
      return again(c, e.status === 503 ? new WebError(503, e.message, { form: e.message }) : WebError.field(400, "to", e.message));
    }
  });

  return app;
}

/** "Re: " once, never "Re: Re: "; the original quoted below an empty top (or above, bottom-posting). */
export function replyDraft(
  m: { from: string; subject: string; body: string; date: number },
  posting: "top" | "bottom",
  to: string = m.from,
): Pick<ComposeProps, "to" | "subject" | "body" | "cursor"> {
  // Reply All passes its list as `to`; Reply answers the sender.
  const subject = replySubject(m.subject);
  const quote = quoteOf(m);
  return posting === "top"
    ? { to, subject, body: `\n\n${quote}\n`, cursor: "start" }
    : { to, subject, body: `${quote}\n\n`, cursor: "end" };
}
