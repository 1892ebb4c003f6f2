// The daemon's local HTTP API (CLIENT.md §2.3), on loopback only: what the CLI, the mailbox
// page and the tray use. Every request must carry the bearer token from the data dir and a
// Host naming this very listener (a DNS-rebinding page cannot forge either).

import { Hono, type Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { streamSSE } from "hono/streaming";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import { UserError } from "./user-error.ts";
import type { ClientHost } from "./host.ts";
import { DISK_FULL, isDiskFull, WrongPasswordError } from "./store.ts";
import { ACCEPT_KEY, contactView } from "./contact-list.ts";
import { MAX_SEND_LINE, MAX_UPLOAD, attachmentIndex, downloadResponse, firstLine, uploadDraft } from "./attachment-http.ts";
import { daemonProof } from "./daemon-proof.ts";
import { hostCheck } from "../web/loopback-host.ts";
import * as actions from "./mail-actions.ts";
import { exportHeaders, textStream } from "./eml.ts";
import { WebError } from "../web/web-error.ts";

const sendSchema = z.object({
  to: z.array(z.string()).min(1),
  subject: z.string(),
  body: z.string(),
  attachments: z.array(z.object({ att: z.string().regex(/^[0-9a-f]{32}$/), name: z.string() })).default([]),
  /** The draft this message was written in: removed once it is sent (CLIENT.md §2.8). */
  draft: z.string().optional(),
});

/** The first line of `POST /api/send/upload`: the message, and the sizes of the bytes after it. */
const sendUploadSchema = z.object({
  to: z.array(z.string()).min(1),
  subject: z.string(),
  body: z.string(),
  attachments: z.array(z.object({ name: z.string(), size: z.number().int().min(0).max(MAX_UPLOAD) })).min(1),
});

const acceptSchema = z.object({ key: z.string().regex(ACCEPT_KEY, "the changed identity key, 64 hex digits") });

const pageSchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
});


export function apiApp(host: ClientHost, token: string, hosts: () => Set<string>): Hono {
  const app = new Hono();

  app.use("*", hostCheck(hosts));
  // The one route without the token: the CLI asks it before sending the token anywhere, and
  // the answer (an HMAC under the token over the CLI's fresh nonce) reveals nothing of it.
  app.get("/api/hello", zValidator("query", z.object({ nonce: z.string().regex(/^[0-9a-f]{64}$/) }), validationHook), (c) =>
    c.json({ proof: Buffer.from(daemonProof(token, Buffer.from(c.req.valid("query").nonce, "hex"))).toString("hex") }),
  );
  app.use("/api/*", bearerAuth({ token }));

  app.onError((err, c) => {
    if (err instanceof WebError) return c.json({ error: err.message }, err.status);
    if (err instanceof UserError) return c.json({ error: err.message }, err.status);
    if (err instanceof WrongPasswordError) return c.json({ error: err.message }, 403);
    if (isDiskFull(err)) return c.json({ error: DISK_FULL }, 507);
    if ("getResponse" in err && typeof err.getResponse === "function") return err.getResponse() as Response;
    console.error(`api error: ${err instanceof Error ? err.message : String(err)}`);
    return c.json({ error: "internal error" }, 500);
  });

  app.get("/api/status", (c) => c.json(host.status()));

  app.post("/api/unlock", zValidator("json", z.object({ password: z.string().min(1) }), validationHook), async (c) => {
    await host.unlock(c.req.valid("json").password);
    return c.json(host.status());
  });

  // A password change (CLIENT.md §1.6): answers once the relay and the store use the new one.
  app.post(
    "/api/passwd",
    zValidator("json", z.object({ password: z.string().min(1), newPassword: z.string().min(1) }), validationHook),
    async (c) => {
      const { password, newPassword } = c.req.valid("json");
      await host.changePassword(password, newPassword);
      return c.json({ ok: true });
    },
  );

  app.get("/api/events", (c) =>
    streamSSE(c, async (stream) => {
      let closed = false;
      const off = host.events.on((e) => {
        if (!closed) void stream.writeSSE({ event: e.type, data: JSON.stringify(e) });
      });
      stream.onAbort(() => {
        closed = true;
        off();
      });
      await stream.writeSSE({ event: "status", data: JSON.stringify({ type: "status", ...host.status() }) });
      while (!closed) {
        await stream.sleep(15_000);
        if (!closed) await stream.writeSSE({ event: "ping", data: "" });
      }
    }),
  );

  app.post("/api/attachments", async (c) => c.json(await uploadDraft(host.daemon.store, c.req.raw.body, Date.now())));

  app.post("/api/send", zValidator("json", sendSchema, validationHook), async (c) => {
    return c.json(await actions.sendDraft(host.daemon, c.req.valid("json")));
  });

  // One request for a message and its attachments' bytes (CLIENT.md §2.3): the outbox sends
  // while they are still being written.
  app.post("/api/send/upload", async (c) => {
    const { line, rest, drain } = await firstLine(c.req.raw.body, MAX_SEND_LINE);
    try {
      let parsed: z.infer<typeof sendUploadSchema>;
      try {
        parsed = sendUploadSchema.parse(JSON.parse(line));
      } catch (e) {
        const why = e instanceof z.ZodError ? e.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`).join("; ") : "the first line is not JSON";
        throw new UserError(`bad request: ${why}`);
      }
      return c.json(await host.daemon.sendUpload(parsed, rest));
    } catch (e) {
      // Read the rest of the body (and drop it): a client still sending when we answer gets
      // its connection closed before it can read the sentence saying why.
      try {
        await drain();
      } catch {
        // the client went: no one to answer
      }
      throw e;
    }
  });

  app.get("/api/inbox", zValidator("query", pageSchema, validationHook), (c) => {
    const q = c.req.valid("query");
    return c.json(host.daemon.list("in", q.limit, q.offset).map(publicSummary));
  });
  app.get("/api/outbox", zValidator("query", pageSchema, validationHook), (c) => {
    const q = c.req.valid("query");
    return c.json(host.daemon.list("out", q.limit, q.offset).map(publicSummary));
  });

  app.get("/api/messages/:id", (c) => {
    const m = host.daemon.show(c.req.param("id"));
    return c.json({ ...publicSummary(m), body: m.body, deliveries: m.deliveries });
  });

  app.get("/api/messages/:id/attachments/:idx", (c) => {
    const m = host.daemon.store.find(c.req.param("id"));
    const idx = attachmentIndex(c.req.param("idx"));
    const meta = m?.attachments[idx];
    if (!m || !meta) throw new UserError("no such attachment", 404);
    return downloadResponse(host.daemon.store, m.rid, idx, meta);
  });

  app.get("/api/users", async (c) => c.json(await host.daemon.connectedUsers()));

  app.get("/api/contacts", (c) => {
    const me = { user: host.user, identity: host.daemon.id.identity.publicKey };
    return c.json(host.daemon.store.contacts().map((k) => contactView(me, k)));
  });
  // `key` is the changed identity key the person checked: a relay that swapped in another
  // since then gets a 409, never the held mail (CLIENT.md §2.3).
  app.post("/api/contacts/:user/accept", zValidator("json", acceptSchema, validationHook), (c) => {
    host.daemon.acceptIdentity(c.req.param("user"), new Uint8Array(Buffer.from(c.req.valid("json").key, "hex")));
    return c.json({ ok: true });
  });

  // --- Trash, Forward, drafts, unread, export (CLIENT.md §2.8) ---
  app.get("/api/trash", zValidator("query", pageSchema, validationHook), (c) => {
    const q = c.req.valid("query");
    return c.json(host.daemon.store.listTrash({ limit: q.limit, offset: q.offset }).map(publicSummary));
  });
  app.post("/api/messages/:id/delete", (c) => {
    actions.deleteMessage(host.daemon, c.req.param("id"));
    return c.json({ ok: true });
  });
  app.post("/api/messages/:id/restore", (c) => {
    actions.restoreMessage(host.daemon, c.req.param("id"));
    return c.json({ ok: true });
  });
  app.post("/api/messages/:id/unread", (c) => {
    actions.markUnread(host.daemon, c.req.param("id"));
    return c.json({ ok: true });
  });
  app.post("/api/trash/empty", (c) => c.json({ removed: actions.emptyTrash(host.daemon) }));
  app.post("/api/forward", zValidator("json", forwardSchema, validationHook), async (c) => c.json(await actions.forward(host.daemon, c.req.valid("json"))));
  app.get("/api/drafts", (c) => c.json(host.daemon.store.drafts().map(publicDraft)));
  app.post("/api/drafts", zValidator("json", draftSchema, validationHook), (c) => c.json({ id: actions.saveDraft(host.daemon, c.req.valid("json")) }));
  app.get("/api/drafts/:id", (c) => {
    const d = host.daemon.store.draft(c.req.param("id"));
    if (!d) throw new UserError(`no draft ${c.req.param("id")}`, 404);
    return c.json(publicDraft(d));
  });
  app.post("/api/drafts/:id/delete", (c) => {
    actions.deleteDraft(host.daemon, c.req.param("id"));
    return c.json({ ok: true });
  });
  app.get("/api/messages/:id/eml", (c) => {
    const id = c.req.param("id");
    return new Response(textStream(actions.emlOf(host.daemon, id)), { headers: exportHeaders(`${id}.eml`, "message/rfc822") });
  });
  app.get("/api/export/mbox", zValidator("query", z.object({ folder: z.enum(actions.EXPORT_FOLDERS).optional() }), validationHook), (c) => {
    const { count, pieces } = actions.mboxOf(host.daemon, c.req.valid("query").folder);
    return new Response(textStream(pieces), { headers: { ...exportHeaders("smsg.mbox", "application/mbox"), "x-smsg-messages": String(count) } });
  });

  return app;
}

const forwardSchema = z.object({ id: z.string().min(1), to: z.array(z.string()).min(1), body: z.string().optional() });
const draftSchema = z.object({
  id: z.string().optional(),
  to: z.string().default(""),
  subject: z.string().default(""),
  body: z.string().default(""),
  attachments: z.array(z.object({ att: z.string().regex(/^[0-9a-f]{32}$/), name: z.string() })).default([]),
});

function publicDraft(d: { id: string; updated: number; to: string; subject: string; body: string; attachments: { att: string; name: string; size: number }[] }) {
  return { id: d.id, updated: new Date(d.updated).toISOString(), to: d.to, subject: d.subject, body: d.body, attachments: d.attachments };
}

function validationHook(result: { success: boolean; error?: unknown }, c: Context): Response | undefined {
  if (!result.success) {
    const issues = (result.error as z.ZodError).issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`);
    return c.json({ error: `bad request: ${issues.join("; ")}` }, 400);
  }
  return undefined;
}

/** One message as the local API lists it (CLIENT.md §2.3): what the CLI and the tests read back. */
export interface ApiSummary {
  id: string;
  from: string;
  to: string[];
  subject: string;
  date: string;
  flags: string;
  attachments: { name: string; size: number }[];
}

function publicSummary(m: { id: string; from: string; to: string[]; subject: string; date: number; flags: string; attachments: { name: string; size: number }[] }): ApiSummary {
  return {
    id: m.id,
    from: m.from,
    to: m.to,
    subject: m.subject,
    date: new Date(m.date).toISOString(),
    flags: m.flags,
    attachments: m.attachments.map((a) => ({ name: a.name, size: a.size })),
  };
}
