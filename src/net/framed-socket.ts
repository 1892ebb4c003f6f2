// Bun TCP socket plumbing shared by relay and client (SPEC.md §2): records in, records out.
// Bun's socket.write may take only part of a buffer, so writes go through a queue that is
// flushed on drain; records written in one tick are coalesced into one write, and a record's
// length and body are queued apart so that the one join of the flush is their only copy.
// A large join goes into one buffer shared by every socket of the process: the kernel copies
// it during write(), and what it does not take is copied out. A fresh 60 KiB buffer per
// chunk record, freed at once, kept the allocator giving memory back to the system and
// faulting it in again (bench/README.md). More than the shared buffer holds goes out in
// turns of its size.
// Reading can be paused (the relay does so while a peer's unread output is over its budget,
// SPEC.md §6.5): the kernel's buffer then fills and the peer's writes block, and records
// already read are kept and handed over on resume, in order.
// Bun hands over each read in a buffer of its own. A record that lies whole in one read is a
// view of it, and a read of 16 KiB or more is released (releaseBytes) as soon as its last
// record has been handed over: left to the collector, a 1 GiB transfer's reads piled up to
// tens of MiB in each process between collections (bench/README.md). So a record is valid
// only until onRecord returns; a handler copies whatever it keeps of it.

import type { Socket } from "bun";
import { RecordDecoder, recordHeader } from "../protocol/framing.ts";
import { copyInto, releasable, releaseBytes } from "../protocol/bytes.ts";

export interface FramedHandlers {
  /**
   * One record, valid only until this returns: it may be a view of the socket's read, which is
   * then released (it reads as empty). Copy what is kept: an asynchronous step, a list.
   */
  onRecord(record: Uint8Array): void;
  /** Called once, when the socket is gone for any reason. */
  onClose(reason: string): void;
  /** The write queue went from non-empty to empty. */
  onDrain?(): void;
  /** The kernel took queued bytes (queuedBytes went down), whether or not all of them. */
  onWritten?(): void;
}

/**
 * The empty queue every idle socket shares (never pushed to: a socket takes its own array when
 * it queues something): a relay holds thousands of idle sockets, each otherwise two arrays more.
 */
const NONE: Uint8Array[] = [];
const NO_COUNTS: number[] = [];

export class FramedSocket {
  readonly socket: Socket<unknown>;
  readonly remoteAddress: string;
  #decoder = new RecordDecoder();
  #handlers: FramedHandlers;
  #pending: Uint8Array[] = NONE; // records not yet handed to the socket
  #pendingBytes = 0;
  #backlog: Uint8Array | null = null; // what the socket refused last time
  #scheduled = false;
  #closed = false;
  #closeAfterFlush = false;
  #paused = false;
  #inbox: Uint8Array[] = NONE; // records read and not yet handed over
  #inboxAt = 0;
  #dispatching = false;
  // Reads with records still in #inbox (paused, or handed over further up the stack), each
  // released once #handed reaches its count in #readsUntil: counts of records ever queued
  // and handed over, never reset, so that #inbox being replaced cannot confuse them.
  #reads: Uint8Array[] = NONE;
  #readsUntil: number[] = NO_COUNTS;
  #queued = 0;
  #handed = 0;

  constructor(socket: Socket<unknown>, handlers: FramedHandlers) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? "?";
    this.#handlers = handlers;
  }

  /**
   * Hand events to these handlers from now on: for handlers that need this socket to exist
   * first (the relay's Session), without a forwarding closure per connection.
   */
  handOver(handlers: FramedHandlers): void {
    this.#handlers = handlers;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Stop reading: no record is handed over until resume(), and the kernel stops taking more. */
  pause(): void {
    if (this.#paused || this.#closed) return;
    this.#paused = true;
    this.socket.pause();
  }

  /** Hand over the records kept while paused, then read again (unless paused meanwhile). */
  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    this.#dispatch();
    if (!this.#paused && !this.#closed) this.socket.resume();
  }

  /** Bytes accepted by send() but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.#pendingBytes + (this.#backlog?.length ?? 0);
  }

  /**
   * Queue one record, whole or as pieces written one after another; nothing given here may
   * change until it is written (callers never reuse one).
   */
  send(body: Uint8Array | readonly Uint8Array[]): void {
    if (body instanceof Uint8Array) {
      this.sendRaw(recordHeader(body.length));
      this.sendRaw(body);
      return;
    }
    this.sendRaw(recordHeader(body.reduce((n, p) => n + p.length, 0)));
    for (const p of body) this.sendRaw(p);
  }

  /** Already framed bytes (the pre-handshake version reply). */
  sendRaw(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#pending === NONE) this.#pending = [];
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Close once everything queued so far has been written. */
  end(): void {
    if (this.#closed) return;
    this.#closeAfterFlush = true;
    if (!this.#scheduled && this.queuedBytes === 0) this.#finish();
  }

  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop();
    this.socket.end();
    this.#handlers.onClose(reason);
  }

  // --- called from the Bun socket handlers ---

  data(chunk: Uint8Array): void {
    if (this.#closed) return;
    let records: Uint8Array[];
    try {
      records = this.#decoder.push(chunk);
    } catch (e) {
      this.close(e instanceof Error ? e.message : "bad record");
      return;
    }
    if (records.length > 0) {
      if (this.#inboxAt === this.#inbox.length) {
        this.#inbox = records;
        this.#inboxAt = 0;
      } else this.#inbox.push(...records);
      this.#queued += records.length;
      this.#dispatch();
      if (this.#dispatching || this.#inboxAt < this.#inbox.length) {
        // Some of its records are not handed over yet, or one is being, further up the stack.
        if (releasable(chunk) && !this.#closed) {
          if (this.#reads === NONE) {
            this.#reads = [];
            this.#readsUntil = [];
          }
          this.#reads.push(chunk);
          this.#readsUntil.push(this.#queued);
        }
        return;
      }
    }
    // Every record of it handed over and returned from (none, if it only went into a
    // partial record, which the decoder copies).
    releaseBytes(chunk);
  }

  /** Records go out one at a time, so a pause from within onRecord stops the next one. */
  #dispatch(): void {
    if (this.#dispatching) return; // the loop below, further up the stack, carries on
    this.#dispatching = true;
    try {
      while (!this.#paused && !this.#closed && this.#inboxAt < this.#inbox.length) {
        const r = this.#inbox[this.#inboxAt++]!;
        this.#handed++;
        this.#handlers.onRecord(r);
      }
    } finally {
      this.#dispatching = false;
    }
    if (this.#inboxAt === this.#inbox.length && this.#inboxAt > 0) {
      this.#inbox = NONE;
      this.#inboxAt = 0;
    }
    if (this.#reads.length > 0) this.#releaseReads();
  }

  /** The kept reads whose records have all been handed over, and their handlers returned. */
  #releaseReads(): void {
    let n = 0;
    while (n < this.#reads.length && this.#readsUntil[n]! <= this.#handed) releaseBytes(this.#reads[n++]!);
    if (n === 0) return;
    if (n === this.#reads.length) {
      this.#reads = NONE;
      this.#readsUntil = NO_COUNTS;
    } else {
      this.#reads.splice(0, n);
      this.#readsUntil.splice(0, n);
    }
  }

  drain(): void {
    this.#flush();
  }

  socketClosed(reason = "peer closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop();
    this.#handlers.onClose(reason);
  }

  /** Closed: what was queued either way is let go now, not when this object is collected. */
  #drop(): void {
    this.#pending = NONE;
    this.#pendingBytes = 0;
    this.#backlog = null;
    this.#inbox = NONE;
    this.#inboxAt = 0;
    // Not released: a handler further up the stack may still be reading the record it was
    // given when it closed us.
    this.#reads = NONE;
    this.#readsUntil = NO_COUNTS;
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    if (this.#backlog) {
      const n = this.socket.write(this.#backlog);
      if (n < this.#backlog.length) {
        if (n > 0) {
          this.#backlog = this.#backlog.subarray(n);
          this.#handlers.onWritten?.();
        }
        return; // wait for drain
      }
      this.#backlog = null;
    }
    // Over SHARED_MAX, in turns of at most SHARED_MAX through the shared buffer: a fresh
    // buffer of megabytes per flush (a sender's whole queue, a relay's backlog after a drain)
    // was new memory faulted in page by page each time.
    let at = 0;
    while (at < this.#pending.length) {
      let end = at;
      let bytes = 0;
      while (end < this.#pending.length && (end === at || bytes + this.#pending[end]!.length <= SHARED_MAX)) bytes += this.#pending[end++]!.length;
      const one = end - at === 1;
      const shared = !one && bytes >= SHARED_MIN;
      const buf = one ? this.#pending[at]! : joinAll(this.#pending, at, end, bytes, shared ? sharedBuffer() : undefined);
      at = end;
      this.#pendingBytes -= bytes;
      const n = this.socket.write(buf);
      if (n < buf.length) {
        // The shared buffer is the next join's: keep a copy of what is left.
        this.#backlog = shared ? buf.slice(Math.max(n, 0)) : buf.subarray(Math.max(n, 0));
        this.#pending = this.#pending.slice(at);
        this.#handlers.onWritten?.();
        return;
      }
    }
    this.#pending = NONE;
    this.#pendingBytes = 0;
    this.#handlers.onWritten?.();
    if (this.#closeAfterFlush) {
      this.#finish();
      return;
    }
    this.#handlers.onDrain?.();
  }

  #finish(): void {
    this.socket.end();
    this.socketClosed("closed after flush");
  }
}

/** Joins of this many bytes go through the shared buffer; smaller ones are cheap as they are. */
const SHARED_MIN = 16 * 1024;
const SHARED_MAX = 1024 * 1024;
let shared: Uint8Array | undefined;
function sharedBuffer(): Uint8Array {
  shared ??= new Uint8Array(SHARED_MAX);
  return shared;
}

/** parts[from..to) joined, into `into` when given (it holds at least total bytes). */
function joinAll(parts: Uint8Array[], from: number, to: number, total: number, into?: Uint8Array): Uint8Array {
  const out = into ? into.subarray(0, total) : new Uint8Array(total);
  let off = 0;
  for (let i = from; i < to; i++) {
    copyInto(out, parts[i]!, off); // not out.set: see copyInto
    off += parts[i]!.length;
  }
  return out;
}
