// Attachments over HTTP, for the API and the mailbox alike: a streamed upload becomes an
// encrypted draft without ever being whole in memory, and a download streams the
// decrypted bytes as a file to save, never as something a browser would render.

import { UserError } from "./user-error.ts";
import type { Store } from "./store.ts";

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
