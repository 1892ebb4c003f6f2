// What `PRAGMA secure_delete = ON` costs the client store (SECURITY.md §8 "Emptying the
// Trash"): the same store filled with N messages of a 2 KiB body, half of them moved to the
// Trash and the Trash emptied, with the pragma on (what Store.open sets) and off. Fill time
// is the baseline (the pragma changes no insert); emptying and the file sizes are the cost.
//
// usage: bun bench/secure-delete.ts [N]     (default 20000)

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "../src/client/store.ts";

const N = Number(process.argv[2] ?? 20_000);
const body = "x".repeat(2048);

function run(secure: boolean): { fill: number; empty: number; wal: number } {
  const dir = mkdtempSync(join(tmpdir(), "smsg-sd-"));
  try {
    const path = join(dir, "client.db");
    const s = Store.open(path, new Uint8Array(32).fill(1));
    if (!secure) s.db.exec("PRAGMA secure_delete = OFF");
    let t = performance.now();
    s.db.transaction(() => {
      for (let i = 0; i < N; i++) {
        s.saveIncoming({ id: i.toString(16).padStart(32, "0"), from: "bob", to: ["alice"], date: i, received: i, subject: `m ${i}`, body, attachments: [] });
      }
    })();
    const fill = performance.now() - t;
    s.db.query("UPDATE messages SET trashed = 1 WHERE rid % 2 = 0").run();
    t = performance.now();
    s.emptyTrash();
    const empty = performance.now() - t;
    s.close();
    return { fill, empty, wal: statSync(path).size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const secure of [false, true, false, true]) {
  const r = run(secure);
  console.log(`secure_delete ${secure ? "ON " : "OFF"}  fill ${N}: ${r.fill.toFixed(0)} ms  empty ${N / 2}: ${r.empty.toFixed(0)} ms  db ${(r.wal / 1048576).toFixed(1)} MiB`);
}
