// Writing one attachment into the store (SPEC.md §7.3): STREAM chunks under the
// attachment's own key, whatever sizes the pieces arrive in, committed in batches so a
// gigabyte costs hundreds of fsyncs, not tens of thousands. Nothing counts until the
// message that owns it commits.

import type { Database } from "bun:sqlite";
import { STREAM_CHUNK, StreamSealer } from "../protocol/stream.ts";

/** Rows of attachment chunks written per transaction while a message streams in. */
const CHUNKS_PER_COMMIT = 32;

/**
 * Writes one attachment as STREAM chunks under its own key, whatever sizes the pieces
 * arrive in. Rows are committed in batches; nothing counts until the message commits.
 */
export class AttachmentWriter {
  readonly att: string;
  #db: Database;
  #sealer: StreamSealer;
  #buf = new Uint8Array(STREAM_CHUNK);
  #fill = 0;
  #seq = 0;
  #size = 0;
  #batch: { seq: number; last: number; data: Uint8Array }[] = [];

  constructor(db: Database, att: string, key: Uint8Array) {
    this.#db = db;
    this.att = att;
    this.#sealer = new StreamSealer(key);
  }

  get size(): number {
    return this.#size;
  }

  write(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      if (this.#fill === STREAM_CHUNK) this.#emit(false); // a full chunk is only final once we know nothing follows
      const n = Math.min(STREAM_CHUNK - this.#fill, data.length - off);
      this.#buf.set(data.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
    }
    this.#size += data.length;
    if (this.#batch.length >= CHUNKS_PER_COMMIT) this.#commit();
  }

  /** Seal the last chunk and commit; the attachment is complete on disk. */
  finish(): number {
    this.#emit(true);
    this.#commit();
    this.#db.query("UPDATE attachments SET size = ? WHERE att = ?").run(this.#size, this.att);
    return this.#size;
  }

  #emit(last: boolean): void {
    const ct = this.#sealer.seal(this.#buf.subarray(0, this.#fill), last);
    this.#batch.push({ seq: this.#seq++, last: last ? 1 : 0, data: ct });
    this.#fill = 0;
  }

  #commit(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    const q = this.#db.query("INSERT INTO chunks (att, seq, last, data) VALUES (?, ?, ?, ?)");
    this.#db.transaction(() => {
      for (const r of batch) q.run(this.att, r.seq, r.last, r.data);
    })();
  }
}
