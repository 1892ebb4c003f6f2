// The everyday mailbox actions on a running daemon (CLIENT.md §2.8), one implementation for the
// local API, the mailbox page and so the CLI: Delete, Restore and Empty Trash, mark unread,
// Forward (the stored attachments copied, never uploaded again), drafts, and export as
// `.eml` or mbox. Each checks what it is given and answers a UserError a person can act on.

import { randomBytes } from "node:crypto";
import type { Daemon } from "./daemon.ts";
import type { DraftContent, MessageSummary } from "./store.ts";
import { UserError } from "./user-error.ts";
import { forwardBody, forwardSubject } from "./drafting.ts";
import { mboxPieces, emlPieces, type ExportMessage } from "./eml.ts";

/** The folders an export can take (`smsg export --folder NAME`). */
export const EXPORT_FOLDERS = ["inbox", "outbox", "trash", "drafts"] as const;
export type ExportFolder = (typeof EXPORT_FOLDERS)[number];

const DRAFT_ID = /^[0-9a-f]{32}$/;

function message(d: Daemon, id: string) {
  const m = d.store.find(id);
  if (!m) throw new UserError(`no message ${id}`, 404);
  return m;
}

/** Delete: into the Trash, received or sent alike. */
export function deleteMessage(d: Daemon, id: string, now = Date.now()): void {
  const m = message(d, id);
  if (!d.store.trash(m.rid, now)) throw new UserError(`message ${id} is already in the Trash`, 409);
}

export function restoreMessage(d: Daemon, id: string): void {
  const m = message(d, id);
  if (!d.store.restore(m.rid)) throw new UserError(`message ${id} is not in the Trash`, 409);
}

/** Empty the Trash for good (CLIENT.md §1.5); the search index forgets those messages too. */
export function emptyTrash(d: Daemon): number {
  const rids = d.store.emptyTrash();
  d.search.forget(rids);
  return rids.length;
}

export function markUnread(d: Daemon, id: string): void {
  const m = message(d, id);
  if (!d.store.markUnread(m.rid)) throw new UserError("only a received message can be marked unread", 400);
}

/**
 * Copies of a message's attachments as new uploads under their original names: what Forward
 * sends with, read back from the store (no upload). The caller sends them or discards them.
 */
export function copyAttachments(d: Daemon, m: { rid: number; attachments: { name: string }[] }, now = Date.now()): { att: string; name: string; size: number }[] {
  const copies: { att: string; name: string; size: number }[] = [];
  try {
    m.attachments.forEach((a, idx) => copies.push({ ...d.store.copyAttachment(m.rid, idx, now), name: a.name }));
  } catch (e) {
    for (const c of copies) d.store.discardAttachment(c.att);
    throw e;
  }
  return copies;
}

/** Forward: "Fwd: " once, the note above the original quoted as in Reply, the attachments with it. */
export async function forward(d: Daemon, req: { id: string; to: string[]; body?: string }): ReturnType<Daemon["send"]> {
  const m = message(d, req.id);
  const attachments = copyAttachments(d, m);
  try {
    return await d.send({ to: req.to, subject: forwardSubject(m.subject), body: forwardBody(req.body ?? "", m), attachments });
  } catch (e) {
    for (const a of attachments) d.store.discardAttachment(a.att);
    throw e;
  }
}

/** Send, and forget the draft it was written in (its uploads now belong to the message). */
export async function sendDraft(d: Daemon, req: Parameters<Daemon["send"]>[0] & { draft?: string }): ReturnType<Daemon["send"]> {
  const r = await d.send(req);
  if (req.draft && DRAFT_ID.test(req.draft)) d.store.deleteDraft(req.draft, req.attachments.map((a) => a.att));
  return r;
}

/**
 * Save what the Send Mail form holds, even half-written and without a recipient: the id given
 * (a draft being edited) or a new one. Uploads it names must exist as uploads.
 */
export function saveDraft(d: Daemon, req: { id?: string; to: string; subject: string; body: string; attachments: { att: string; name: string }[] }, now = Date.now()): string {
  if (req.id !== undefined && !DRAFT_ID.test(req.id)) throw new UserError("a draft id is 32 lowercase hex digits", 400);
  const id = req.id ?? randomBytes(16).toString("hex");
  const attachments = req.attachments.flatMap((a) => {
    const size = d.store.draftSize(a.att);
    return size === undefined ? [] : [{ att: a.att, name: a.name, size }]; // already sent, or pruned: nothing to keep
  });
  const content: DraftContent = { to: req.to, subject: req.subject, body: req.body, attachments };
  d.store.saveDraft(id, content, now);
  return id;
}

export function deleteDraft(d: Daemon, id: string): void {
  if (!DRAFT_ID.test(id) || !d.store.deleteDraft(id)) throw new UserError(`no draft ${id}`, 404);
}

const FOLDER_OF = (m: MessageSummary): ExportFolder => (m.trashed ? "trash" : m.folder === "in" ? "inbox" : "outbox");

function exportOf(d: Daemon, id: string): ExportMessage {
  const m = message(d, id);
  return {
    id: m.id,
    from: m.from,
    to: m.to,
    date: m.date,
    subject: m.subject,
    body: m.body,
    folder: FOLDER_OF(m),
    attachments: m.attachments.map((a, idx) => ({ name: a.name, chunks: () => d.store.readAttachment(m.rid, idx) })),
  };
}

/** One message as `.eml` text, piece by piece. */
export function emlOf(d: Daemon, id: string): Generator<string> {
  return emlPieces(exportOf(d, id));
}

/** The summaries an export of `folder` covers (all four folders without one). */
function exportList(d: Daemon, folder: ExportFolder | undefined): { count: number; messages: () => Generator<ExportMessage> } {
  const want = (f: ExportFolder) => folder === undefined || folder === f;
  const ids = [
    ...(want("inbox") ? d.store.list("in") : []),
    ...(want("outbox") ? d.store.list("out") : []),
    ...(want("trash") ? d.store.listTrash() : []),
  ].map((m) => m.id);
  const drafts = want("drafts") ? d.store.drafts() : [];
  return {
    count: ids.length + drafts.length,
    messages: function* () {
      for (const id of ids) yield exportOf(d, id);
      for (const dr of drafts) {
        yield {
          id: dr.id,
          from: d.id.user,
          to: dr.to.split(",").map((u) => u.trim()).filter((u) => u !== ""),
          date: dr.updated,
          subject: dr.subject,
          body: dr.body,
          folder: "drafts",
          attachments: dr.attachments.map((a) => ({ name: a.name, chunks: () => d.store.readDraftAttachment(a.att) })),
        };
      }
    },
  };
}

/** The mailbox (or one folder of it) as mbox text, and how many messages it holds. */
export function mboxOf(d: Daemon, folder: ExportFolder | undefined): { count: number; pieces: Generator<string> } {
  const l = exportList(d, folder);
  return { count: l.count, pieces: mboxPieces(l.messages()) };
}
