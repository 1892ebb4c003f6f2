// Figure 5: a client store of 100,000 messages, filled fast by writing rows with
// Store.saveIncoming directly (one transaction per batch of 1,000), then a real client
// daemon started locked on it: unlock over the API, the first inbox page over HTTP (the
// JSON API and the HTML mailbox), and a search in the mailbox. Each is timed beside the
// same request on a store of one page (50 messages), so the ratio is the cost of size.

import { join } from "node:path";
import type { BenchContext } from "../lib/context.ts";
import { api, mailboxSession, page, startClientProcess, type ClientProcess } from "../lib/client-process.ts";
import { freePort } from "../lib/procs.ts";
import { row, unavailable, type Row } from "../lib/row.ts";
import { median } from "../lib/stats.ts";
import { Store } from "../../src/client/store.ts";
import { STORE_FILE } from "../../src/client/host.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";
import { randomBytes } from "../../src/protocol/primitives.ts";

const USER = "mailbox";
const PASSWORD = "correct horse battery staple";
const SMALL = 50;
const TARGET_MS = 50;
const SEARCH_WORD = "quarterly"; // in one message of 100
const BATCH = 1000;

const WORDS = "meeting report invoice garden holiday family school project budget train music river coffee letter".split(" ");

/** Writes n inbound messages into a new store under dataDir, in batches. */
export async function fillStore(dataDir: string, n: number, storeKey: Uint8Array): Promise<void> {
  const store = Store.open(join(dataDir, STORE_FILE), storeKey);
  try {
    store.setMeta("user", new TextEncoder().encode(USER));
    const start = Date.now() - n * 60_000;
    for (let b = 0; b < n; b += BATCH) {
      store.db.transaction(() => {
        for (let i = b; i < Math.min(n, b + BATCH); i++) {
          const w = (k: number) => WORDS[(i * 7 + k * 3) % WORDS.length]!;
          store.saveIncoming({
            id: Buffer.from(randomBytes(16)).toString("hex"),
            from: `sender${i % 20}`,
            to: [USER],
            date: start + i * 60_000,
            received: start + i * 60_000,
            subject: `${w(0)} ${w(1)} number ${i}${i % 100 === 0 ? ` ${SEARCH_WORD}` : ""}`,
            body: `Hello,\n\n${Array.from({ length: 40 }, (_, k) => w(k)).join(" ")}.\n\nRegards,\nsender${i % 20}`,
            attachments: [],
          });
        }
      })();
    }
  } finally {
    store.close();
  }
}

interface Measured {
  unlockMs: number;
  apiFirstMs: number;
  apiWarmMs: number;
  htmlFirstMs: number | null;
  searchFirstMs: number | null;
  searchNextMs: number | null;
  searchHits: number | null;
}

async function measure(ctx: BenchContext, n: number, keys: { storeKey: Uint8Array }): Promise<Measured> {
  const dataDir = ctx.dir(`mailbox-${n}`);
  await fillStore(dataDir, n, keys.storeKey);
  // Nothing listens there: the daemon retries in the background, as with a relay down.
  const client = await startClientProcess({ user: USER, dataDir, server: `127.0.0.1:${freePort()}` });
  try {
    return await timed(client, n);
  } finally {
    await client.stop();
  }
}

async function timed(client: ClientProcess, n: number): Promise<Measured> {
  const unlock = await api<{ locked: boolean }>(client, "POST", "/api/unlock", { password: PASSWORD });
  if (unlock.value.locked) throw new Error("the daemon is still locked after /api/unlock");
  const first = await api<unknown[]>(client, "GET", "/api/inbox?limit=50");
  if (first.value.length !== Math.min(50, n)) throw new Error(`inbox page has ${first.value.length} messages`);
  const warm: number[] = [];
  for (let i = 0; i < 10; i++) warm.push((await api<unknown[]>(client, "GET", "/api/inbox?limit=50")).ms);
  // The HTML mailbox and its search, when this version of the client has them.
  let htmlFirstMs: number | null = null;
  let searchFirstMs: number | null = null;
  let searchNextMs: number | null = null;
  let searchHits: number | null = null;
  const probe = await fetch(client.url + "/unlock");
  await probe.text();
  if (probe.status === 200) {
    const cookie = await mailboxSession(client, PASSWORD);
    const inbox = await page(client, "/inbox", cookie);
    if (inbox.status !== 200) throw new Error(`GET /inbox: ${inbox.status}`);
    // A page without rows would be the session's shell (no page token): not the figure.
    if (!/number \d+/.test(inbox.html)) throw new Error("GET /inbox gave no message rows");
    htmlFirstMs = inbox.ms;
    const s1 = await page(client, `/inbox?q=${SEARCH_WORD}`, cookie);
    if (s1.status !== 200) throw new Error(`GET /inbox?q=: ${s1.status}`);
    searchFirstMs = s1.ms;
    searchHits = (s1.html.match(new RegExp(`number \\d+ ${SEARCH_WORD}`, "g")) ?? []).length;
    searchNextMs = (await page(client, `/inbox?q=${WORDS[3]}+${WORDS[5]}`, cookie)).ms;
  }
  return { unlockMs: unlock.ms, apiFirstMs: first.ms, apiWarmMs: median(warm), htmlFirstMs, searchFirstMs, searchNextMs, searchHits };
}

export async function mailboxRows(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.quick ? 1000 : 100_000;
  const label = n.toLocaleString("en-US");
  ctx.log("mailbox: deriving the store key (Argon2id)");
  const keys = await deriveUserKeys(USER, PASSWORD);
  ctx.log(`mailbox: ${SMALL} messages`);
  const small = await measure(ctx, SMALL, keys);
  ctx.log(`mailbox: filling and opening a store of ${label} messages`);
  const big = await measure(ctx, n, keys);
  const base = (value: number | null) => ({ name: `the same with ${SMALL} messages`, value });
  const rows: Row[] = [
    row({
      name: `mailbox first inbox page over HTTP (GET /api/inbox?limit=50, first after unlock), ${label} messages`,
      value: big.apiFirstMs,
      unit: "ms",
      baseline: base(small.apiFirstMs),
      target: { text: `< ${TARGET_MS} ms`, check: (v) => v < TARGET_MS },
    }),
    row({ name: `mailbox inbox page over HTTP (GET /api/inbox?limit=50, median of 10 more), ${label} messages`, value: big.apiWarmMs, unit: "ms", baseline: base(small.apiWarmMs) }),
  ];
  if (big.htmlFirstMs === null) rows.push(unavailable(`mailbox first HTML inbox page (GET /inbox), ${label} messages`, "ms", "no HTML mailbox in this client", `< ${TARGET_MS} ms`));
  else
    rows.push(
      row({
        name: `mailbox first HTML inbox page (GET /inbox, first after unlock), ${label} messages`,
        value: big.htmlFirstMs,
        unit: "ms",
        baseline: base(small.htmlFirstMs),
        target: { text: `< ${TARGET_MS} ms`, check: (v) => v < TARGET_MS },
      }),
    );
  if (big.searchFirstMs === null) rows.push(unavailable(`mailbox search, ${label} messages`, "ms", "no search in this client"));
  else {
    ctx.log(`mailbox: the search for "${SEARCH_WORD}" showed ${big.searchHits} of its ${Math.ceil(n / 100)} matches on its first page`);
    rows.push(
      row({ name: `mailbox search, first after unlock (GET /inbox?q=, builds the in-memory index), ${label} messages`, value: big.searchFirstMs, unit: "ms", baseline: base(small.searchFirstMs) }),
      row({ name: `mailbox search, a second query (GET /inbox?q=, two words), ${label} messages`, value: big.searchNextMs, unit: "ms", baseline: base(small.searchNextMs) }),
    );
  }
  rows.push(row({ name: `mailbox unlock (POST /api/unlock on a locked client, Argon2id included), ${label} messages`, value: big.unlockMs, unit: "ms", baseline: base(small.unlockMs) }));
  return rows;
}
