// Search over subject, body, names and correspondents (issue #3): built in memory after
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

  /** Bring the index up to date with the store (cheap when nothing is new). */
  refresh(): void {
    for (const e of this.#store.textSince(this.#last)) {
      this.#entries.push(e);
      this.#last = e.rid;
    }
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

  get size(): number {
    return this.#entries.length;
  }
}
