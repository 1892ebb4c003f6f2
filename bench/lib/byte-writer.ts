// Writing raw bytes to a Bun socket without losing what it did not take: socket.write may
// accept part of a buffer, so the rest is kept (copied: the caller's buffer may be reused)
// and written on drain. The baselines use it; smsg itself has its own in src/net.

import type { Socket } from "bun";

export class ByteWriter {
  #socket: Socket<unknown>;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(socket: Socket<unknown>) {
    this.#socket = socket;
  }

  get queuedBytes(): number {
    return this.#pendingBytes;
  }

  write(b: Uint8Array): void {
    if (this.#pending.length > 0) {
      this.#keep(b.slice());
      return;
    }
    const n = this.#socket.write(b);
    if (n < b.length) this.#keep(b.slice(Math.max(n, 0)));
  }

  drain(): void {
    while (this.#pending.length > 0) {
      const buf = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
      this.#pending = [];
      this.#pendingBytes = 0;
      const n = this.#socket.write(buf);
      if (n < buf.length) {
        this.#keep(buf.subarray(Math.max(n, 0)));
        return;
      }
    }
  }

  #keep(b: Uint8Array): void {
    this.#pending.push(b);
    this.#pendingBytes += b.length;
  }
}
