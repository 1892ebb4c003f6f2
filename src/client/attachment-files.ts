// The store's attachment files (CLIENT.md §1.1, §7.3, §7.5): one file per attachment in
// `client.db-attachments/`, named by its id, holding exactly the STREAM of its bytes under its
// own key. This module owns the folder: creating, reading, removing and syncing its entries.

import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ProtocolError } from "../protocol/errors.ts";
import { STREAM_CHUNK, streamCiphertextSize, streamReader } from "../protocol/stream.ts";
import { AES_GCM_TAG_LENGTH } from "../protocol/primitives.ts";
import { writeAll } from "./attachment-writer.ts";

/** The folder of a store's attachment files: `client.db-attachments` beside `client.db`. */
export function attachmentsDir(storePath: string): string {
  return `${storePath}-attachments`;
}

const ATT_NAME = /^[0-9a-f]{32}$/;

function readFully(fd: number, buf: Uint8Array): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, null);
    if (n === 0) break;
    got += n;
  }
  return got;
}

export class AttachmentFiles {
  /** The folder, created 0700 if absent. */
  readonly dir: string;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.dir = dir;
  }

  path(att: string): string {
    return join(this.dir, att);
  }

  /** A new, empty file for an attachment, open for appending; an existing one is an error. */
  create(att: string): number {
    return openSync(this.path(att), "wx", 0o600);
  }

  /** Make a new or removed entry of the folder durable (Linux; elsewhere a no-op). */
  syncDir(): void {
    if (process.platform === "win32") return;
    const fd = openSync(this.dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Remove an attachment's file, if it is there. */
  remove(att: string): void {
    rmSync(this.path(att), { force: true });
  }

  /** Remove the files `known` does not claim: left by a crash between a row's change and its file's. */
  removeStrays(known: (att: string) => boolean): void {
    for (const name of readdirSync(this.dir)) if (ATT_NAME.test(name) && !known(name)) this.remove(name);
  }

  /** Write a whole file from its pieces and make it durable (moving rows of an older store). */
  writeWhole(att: string, pieces: Iterable<Uint8Array>): void {
    const fd = openSync(this.path(att), "w", 0o600);
    try {
      for (const p of pieces) writeAll(fd, p);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.syncDir();
  }

  /** Plaintext of an attachment of `size` bytes under `key`, chunk by chunk. */
  *read(att: string, key: Uint8Array, size: number): Generator<Uint8Array> {
    const ctSize = streamCiphertextSize(size);
    let fd: number;
    try {
      fd = openSync(this.path(att), "r");
    } catch {
      throw new ProtocolError("truncated", "stored attachment's file is missing");
    }
    try {
      // The file is exactly the STREAM for the recorded size; anything else is damage.
      if (fstatSync(fd).size !== ctSize) throw new ProtocolError("truncated", "stored attachment's file has the wrong length");
      yield* streamReader(key, ctSize, (buf) => readFully(fd, buf));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Plaintext of an attachment still being written, chunk by chunk: each STREAM chunk is read
   * once `reached` says the file holds it, so the reader follows the writer without ever
   * reading a partial chunk. `reached` rejects when the writer stops short: so does this.
   */
  async *follow(att: string, key: Uint8Array, size: number, reached: (bytes: number) => Promise<void>): AsyncGenerator<Uint8Array> {
    const ctSize = streamCiphertextSize(size);
    const fd = openSync(this.path(att), "r");
    try {
      let pos = 0;
      const chunks = streamReader(key, ctSize, (buf) => {
        const n = readFully(fd, buf);
        pos += n;
        return n;
      });
      for (;;) {
        await reached(Math.min(ctSize, pos + STREAM_CHUNK + AES_GCM_TAG_LENGTH));
        const n = chunks.next();
        if (n.done) return;
        yield n.value;
      }
    } finally {
      closeSync(fd);
    }
  }
}
