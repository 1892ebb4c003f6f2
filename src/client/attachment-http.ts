// Attachments over HTTP, for the API and the mailbox alike: a streamed upload becomes an
// encrypted draft without ever being whole in memory, and a download streams the
// decrypted bytes as a file to save, never as something a browser would render.

import { UserError } from "./user-error.ts";
import type { Store } from "./store.ts";
import type { AttachmentWriter } from "./attachment-writer.ts";

/** Upload cap: the relay's own limit decides what can be sent; this bounds the disk. */
export const MAX_UPLOAD = 4 * 1024 * 1024 * 1024;

export function attachmentIndex(raw: string | undefined): number {
  return raw !== undefined && /^\d{1,3}$/.test(raw) ? Number(raw) : -1;
}

/** Store a request body as an encrypted draft attachment; returns its id and size. */
export async function uploadDraft(store: Store, body: ReadableStream<Uint8Array> | null, now: number): Promise<{ att: string; size: number }> {
  if (!body) throw new UserError("empty upload");
  const w = store.newAttachment("draft", now);
  let size = 0;
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > MAX_UPLOAD) throw new UserError("attachment larger than 4 GiB");
      w.write(chunk);
    }
    w.finish();
  } catch (e) {
    store.discardAttachment(w.att);
    throw e;
  }
  return { att: w.att, size };
}

/**
 * The bytes of a combined send (`POST /api/send/upload`) into its attachments' writers: the
 * attachments one after another, each exactly its declared size. Each is finished (synced)
 * when its last byte is in; more bytes or fewer than declared is an error, and the caller
 * discards them all.
 */
export async function writeUploads(writers: AttachmentWriter[], sizes: number[], bytes: AsyncIterable<Uint8Array>): Promise<void> {
  let i = 0;
  let left = sizes[0] ?? 0;
  const finishFull = () => {
    for (; i < writers.length && left === 0; left = sizes[++i] ?? 0) writers[i]!.finish();
  };
  finishFull();
  for await (const chunk of bytes) {
    for (let off = 0; off < chunk.length; ) {
      if (i >= writers.length) throw new UserError("the upload is longer than the attachments' declared sizes");
      const n = Math.min(left, chunk.length - off);
      writers[i]!.write(chunk.subarray(off, off + n));
      off += n;
      left -= n;
      finishFull();
    }
  }
  if (i < writers.length) throw new UserError("the upload ended before the attachments' declared sizes");
}

/** The longest first line of `POST /api/send/upload` (its JSON: a header is at most 4 MiB, escaping may double it). */
export const MAX_SEND_LINE = 9 * 1024 * 1024;

/**
 * A request body's first line (up to "\n", which JSON never holds raw), the bytes after it,
 * still streaming, and drain(): read whatever is left and drop it (so that an early answer
 * reaches a client that is still sending).
 */
export async function firstLine(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<{ line: string; rest: AsyncIterable<Uint8Array>; drain: () => Promise<void> }> {
  if (!body) throw new UserError("empty request");
  const reader = body.getReader();
  const head: Uint8Array[] = [];
  let got = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) throw new UserError("the request ended before its first line");
    const nl = r.value.indexOf(10);
    if (nl < 0) {
      head.push(r.value);
      got += r.value.length;
      if (got > max) throw new UserError("the request's first line is too long");
      continue;
    }
    head.push(r.value.subarray(0, nl));
    const after = r.value.subarray(nl + 1);
    const rest = async function* () {
      if (after.length > 0) yield after;
      for (;;) {
        const n = await reader.read();
        if (n.done) return;
        yield n.value;
      }
    };
    const drain = async () => {
      while (!(await reader.read()).done);
    };
    return { line: Buffer.concat(head).toString("utf8"), rest: rest(), drain };
  }
}

/** The attachment as a download: octet-stream, attachment disposition, nosniff, sandboxed. */
export function downloadResponse(store: Store, rid: number, idx: number, meta: { name: string; size: number }): Response {
  const chunks = store.readAttachment(rid, idx);
  const body = new ReadableStream<Uint8Array>({
    pull(ctl) {
      const n = chunks.next();
      if (n.done) ctl.close();
      else ctl.enqueue(n.value);
    },
    cancel() {
      chunks.return(undefined); // closes the attachment's file
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(meta.size),
      "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(meta.name)}`,
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'none'; sandbox",
      "x-frame-options": "DENY",
      "cross-origin-resource-policy": "same-origin",
      "referrer-policy": "no-referrer",
    },
  });
}
