// Search over subject, body, names and correspondents: built in memory after
// unlock, from the decrypted store, and topped up with messages that arrived since. Never a
// plaintext index on disk. A linear scan over lowercased text is fast enough for 100,000
// messages and needs no tokenizer for Chinese or Arabic.

import type { Folder, Store } from "./store.ts";

interface Entry {
  rid: number;
  folder: Folder;
  date: number;
  text: string;
}

export class SearchIndex {
  #store: Store;
  #entries: Entry[] = [];
  #last = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Bring the index up to date with the store (cheap when nothing is new). With a limit,
   * take at most that many messages and say whether more are waiting.
   */
  refresh(limit = Infinity): boolean {
    let n = 0;
    for (const e of this.#store.textSince(this.#last)) {
      this.#entries.push(e);
      this.#last = e.rid;
      if (++n >= limit) return true;
    }
    return false;
  }

  /**
   * Build the index in the background after unlock, a slice at a time, so the first search
   * is quick and the event loop (heartbeats, transfers, the page) is never held for long.
   * A slice is a time, not a count: on a busy machine 250 messages took tens of ms, and the
   * first page after unlock waited behind one (bench/README.md).
   */
  warmUp(sliceMs = 4, stopped: () => boolean = () => false, now: () => number = () => performance.now()): void {
    const step = (): void => {
      if (stopped()) return;
      try {
        if (this.#fillFor(sliceMs, now)) setTimeout(step, 0);
      } catch {
        // The store closed under us (the client is stopping): a later search refreshes anyway.
      }
    };
    setTimeout(step, 0);
  }

  /** Take messages for about budgetMs (the clock is read every 16): whether more are waiting. */
  #fillFor(budgetMs: number, now: () => number): boolean {
    const end = now() + budgetMs;
    let n = 0;
    for (const e of this.#store.textSince(this.#last)) {
      this.#entries.push(e);
      this.#last = e.rid;
      if ((++n & 15) === 0 && now() >= end) return true;
    }
    return false;
  }

  /** Newest first: rids of messages whose text contains every word of the query. */
  search(query: string, folder: Folder | "any" = "any", limit = 50, offset = 0): { rids: number[]; more: boolean } {
    this.refresh();
    const words = query.toLowerCase().split(/\s+/).filter((w) => w !== "");
    if (words.length === 0) return { rids: [], more: false };
    const hits: Entry[] = [];
    for (const e of this.#entries) {
      if ((folder === "any" || e.folder === folder) && words.every((w) => e.text.includes(w))) hits.push(e);
    }
    hits.sort((a, b) => b.date - a.date || b.rid - a.rid);
    return { rids: hits.slice(offset, offset + limit).map((e) => e.rid), more: hits.length > offset + limit };
  }

  /** Drop removed messages (an emptied Trash): their text must not outlive them, even in memory. */
  forget(rids: number[]): void {
    if (rids.length === 0) return;
    const gone = new Set(rids);
    this.#entries = this.#entries.filter((e) => !gone.has(e.rid));
  }

  get size(): number {
    return this.#entries.length;
  }
}
