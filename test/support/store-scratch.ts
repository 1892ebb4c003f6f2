// A fresh folder for each store test: Store.open on a file in it, and every store a test
// opened closed (unless the test did) and the folder removed after the test.

import { afterEach, beforeEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "../../src/client/store.ts";

export interface StoreScratch {
  /** The store file of the running test. */
  readonly path: string;
  /** Open (or create) the store at path; it is closed after the test. */
  open(key: Uint8Array): Store;
  /** Close s after the test too (a store opened some other way). */
  keep(s: Store): Store;
}

/** Registers the before and after hooks of the calling test file. */
export function storeScratch(prefix: string, file: string): StoreScratch {
  let dir = "";
  let path = "";
  let open: Store[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    path = join(dir, file);
    open = [];
  });
  afterEach(() => {
    for (const s of open) {
      try {
        s.close();
      } catch {
        // closed by the test
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const keep = (s: Store): Store => {
    open.push(s);
    return s;
  };
  return {
    get path() {
      return path;
    },
    open: (key) => keep(Store.open(path, key)),
    keep,
  };
}
