// The cluster's one directory (SPEC.md §11.3): every directory row is a key of a JetStream
// KV bucket, and each node (and ctrl) keeps an in-memory copy, a Directory, filled and kept
// current by a watch, so that lookups stay synchronous. A row changed here is put to the
// bucket at once, in order; the last write of a row wins.

import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { Directory, type DirectoryChange, type DirectoryRow, type DirectoryTable } from "../directory.ts";
import { BUCKET, escapeUser, unescapeUser } from "./subjects.ts";
import { ClusterError } from "./nats-connect.ts";

const PREFIXES: Record<DirectoryTable, string> = { users: "u", pending: "p", invites: "i", admin_logins: "a", identity_changes: "c" };
const TABLES: Record<string, DirectoryTable> = { u: "users", p: "pending", i: "invites", a: "admin_logins", c: "identity_changes" };
const LOAD_DEADLINE_MS = 8000;

/** The KV key of a directory row: "u.alice=smith" for user alice.smith, "i.<hex hash>". */
export function rowKey(table: DirectoryTable, key: string | Uint8Array): string {
  const k = typeof key === "string" ? escapeUser(key) : Buffer.from(key).toString("hex");
  return `${PREFIXES[table]}.${k}`;
}

function parseKey(k: string): { table: DirectoryTable; key: string | Uint8Array } | undefined {
  const dot = k.indexOf(".");
  const table = TABLES[k.slice(0, dot)];
  if (dot < 0 || !table) return undefined;
  const rest = k.slice(dot + 1);
  return { table, key: table === "users" || table === "pending" || table === "identity_changes" ? unescapeUser(rest) : new Uint8Array(Buffer.from(rest, "hex")) };
}

/** A row as JSON: byte fields as {"b64": "..."}. */
export function encodeRow(row: DirectoryRow): Uint8Array {
  const o: Record<string, unknown> = {};
  for (const [c, v] of Object.entries(row)) o[c] = v instanceof Uint8Array ? { b64: Buffer.from(v).toString("base64") } : v;
  return new TextEncoder().encode(JSON.stringify(o));
}

export function decodeRow(b: Uint8Array): DirectoryRow {
  const o = JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
  const row: DirectoryRow = {};
  for (const [c, v] of Object.entries(o)) {
    if (v && typeof v === "object" && typeof (v as { b64?: unknown }).b64 === "string") row[c] = new Uint8Array(Buffer.from((v as { b64: string }).b64, "base64"));
    else if (v === null || typeof v === "string" || typeof v === "number") row[c] = v;
    else throw new Error(`bad value in column ${c}`);
  }
  return row;
}

/**
 * A JetStream call that may fail for a while after a NATS server of the cluster died, until
 * its streams have elected new leaders: tried again with backoff until the deadline, then
 * one sentence (ClusterError). Anything else fails at once.
 */
export async function settled<T>(what: string, deadline: number, f: () => Promise<T>): Promise<T> {
  for (let wait = 200; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await f();
    } catch (e) {
      const err = e as Error;
      const transient = err?.name === "TimeoutError" || /timeout|no responders|leader|unavailable|503/i.test(String(err?.message ?? e));
      if (e instanceof ClusterError) throw e;
      if (!transient || Date.now() + wait > deadline) throw new ClusterError(`${what} (${err?.message ?? String(e)})`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

const notFound = (e: unknown) => /not found/i.test(String((e as Error)?.message ?? e));

/** The cluster's KV bucket, made on first use with the replicas asked for (0: 1 or 3 by the servers seen). */
export async function openBucket(nc: NatsConnection, replicas: number, deadline = Date.now() + LOAD_DEADLINE_MS): Promise<KV> {
  const kvm = new Kvm(nc);
  const existing = await settled(`cannot reach the cluster's directory bucket "${BUCKET}"`, deadline, async () => {
    try {
      const kv = await kvm.open(BUCKET);
      await kv.status(); // open() alone does not ask whether the bucket exists
      return kv;
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  });
  if (existing) return existing;
  const servers = new Set(nc.info?.connect_urls ?? []).size;
  const r = replicas > 0 ? replicas : servers >= 3 ? 3 : 1;
  try {
    return await kvm.create(BUCKET, { history: 1, replicas: r, description: "smsg relay cluster: directory and relay key" });
  } catch (e) {
    throw new ClusterError(`cannot make the cluster's directory bucket "${BUCKET}" with ${r} replica(s) (${(e as Error).message})`);
  }
}

export class DirectoryReplica {
  readonly directory: Directory;
  readonly kv: KV;
  #writing = new Map<string, number>(); // writes of a key not yet stored: its watched echoes are not applied
  #inFlight = new Set<Promise<unknown>>();
  #failure: Error | undefined;
  #watch: QueuedIterator<KvEntry> | undefined;
  #listeners = new Set<() => void>();
  #onError: (e: Error) => void;

  private constructor(kv: KV, onError: (e: Error) => void) {
    this.kv = kv;
    this.#onError = onError;
    this.directory = Directory.replica((changes) => this.#put(changes));
  }

  /** Open the bucket and fill the copy; resolves once the copy holds every row. */
  static async open(nc: NatsConnection, replicas: number, onError: (e: Error) => void = () => {}): Promise<DirectoryReplica> {
    const deadline = Date.now() + LOAD_DEADLINE_MS;
    const kv = await openBucket(nc, replicas, deadline);
    const r = new DirectoryReplica(kv, onError);
    await r.#start(deadline);
    return r;
  }

  /** Called after rows another process changed are in the copy. */
  onRemoteChange(listener: () => void): void {
    this.#listeners.add(listener);
  }

  async #start(deadline: number): Promise<void> {
    const what = "the cluster's directory did not answer";
    const last = (await settled(what, deadline, () => this.kv.status())).streamInfo.state.last_seq;
    let ready!: () => void;
    const loaded = new Promise<void>((r) => (ready = r));
    if (last === 0) ready();
    // The watch reconnects by itself after NATS comes back, from where it was.
    this.#watch = await settled(what, deadline, () => this.kv.watch());
    void (async () => {
      for await (const e of this.#watch!) {
        try {
          this.#apply(e);
        } catch (err) {
          this.#onError(err as Error);
        }
        if (e.revision >= last) ready();
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      loaded,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ClusterError(`the cluster's directory did not load within ${LOAD_DEADLINE_MS / 1000} s`)), LOAD_DEADLINE_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  #apply(e: KvEntry): void {
    const where = parseKey(e.key);
    if (!where) return; // the relay key, or a key of a later version
    // Our own write, or an older one, still on its way: the copy already holds the newer.
    if (this.#writing.has(e.key)) return;
    this.directory.applyRemote(where.table, where.key, e.operation === "PUT" ? decodeRow(e.value) : undefined);
    for (const l of this.#listeners) l();
  }

  #put(changes: DirectoryChange[]): void {
    for (const c of changes) {
      const k = rowKey(c.table, c.key);
      this.#writing.set(k, (this.#writing.get(k) ?? 0) + 1);
      const p = (c.row ? this.kv.put(k, encodeRow(c.row)) : this.kv.delete(k)).then(
        () => {},
        (e: Error) => {
          this.#failure ??= e;
          this.#onError(e);
        },
      );
      const done = p.finally(() => {
        this.#inFlight.delete(done);
        const n = this.#writing.get(k)! - 1;
        if (n === 0) this.#writing.delete(k);
        else this.#writing.set(k, n);
      });
      this.#inFlight.add(done);
    }
  }

  /** Wait until every change made so far is stored in the bucket; throws if one was not. */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
    if (this.#failure) throw new ClusterError(`a change did not reach the cluster's directory (${this.#failure.message})`);
  }

  close(): void {
    this.#watch?.stop();
    this.directory.close();
  }
}
