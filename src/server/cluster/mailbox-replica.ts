// The cluster's mailbox (SPEC.md §12.6): prekeys, waiting mail and notices are keys of one
// JetStream KV bucket, "smsg-mail", with as many replicas as the directory's, so that mail
// waiting for a user survives the loss of a node. Each node keeps a copy in its data dir (a
// SqliteMailboxStore under cluster-mailbox/, rebuilt at every start), filled by a watch as
// the directory's copy is, so that reads stay synchronous; writes go to the bucket, and a
// write the mailbox waits on (HELD, a new prekey state) returns once the copy holds it.

import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { SqliteMailboxStore, type Body, type MailboxStore, type Notice, type Upload, type WaitingMail } from "../mailbox-store.ts";
import type { AckStatus, NoticeKind } from "../../protocol/messages.ts";
import { escapeUser, unescapeUser } from "./subjects.ts";
import { settled } from "./directory-replica.ts";
import { ClusterError } from "./nats-connect.ts";

export const MAIL_BUCKET = "smsg_mail";
const LOAD_DEADLINE_MS = 8000;

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
const json = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));
const parse = <T>(b: Uint8Array): T => JSON.parse(new TextDecoder().decode(b)) as T;

/** Keys (SPEC.md §12.6): user ids with "." written "=", ids in hex. */
const signedKey = (u: string): string => `s.${escapeUser(u)}`;
const stockKey = (u: string): string => `o.${escapeUser(u)}`;
const takesKey = (owner: string, taker: string): string => `t.${escapeUser(owner)}.${escapeUser(taker)}`;
const partKey = (nonce: string, k: number): string => `c.${nonce}.${k}`;
const mailKey = (r: string, s: string, id: Uint8Array): string => `w.${escapeUser(r)}.${escapeUser(s)}.${hex(id)}`;
const noticeKey = (s: string, r: string, id: Uint8Array): string => `n.${escapeUser(s)}.${escapeUser(r)}.${hex(id)}`;

interface MailRecord {
  nonce: string;
  parts: number;
  size: number;
  deliver: string; // base64
  created: number;
}

interface NoticeRecord {
  kind: NoticeKind;
  status: AckStatus;
  receipt: string; // base64
}

const conflict = (e: unknown): boolean => /wrong last sequence|key exists/i.test(String((e as Error)?.message ?? e));

export class ClusterMailboxStore implements MailboxStore {
  readonly kv: KV;
  readonly local: SqliteMailboxStore;
  #signed = new Map<string, Uint8Array>();
  #stock = new Map<string, number>();
  /** Parts of uploads seen by the watch, written to the copy as they come. */
  #parts = new Map<string, { next: number; upload: Upload; broken: boolean }>();
  /** Where each waiting mail's parts are, to remove them with it. */
  #where = new Map<string, { nonce: string; parts: number }>();
  #applied = 0;
  #loaded = false; // past the bucket's state at start: notices from then on are news
  #waiters: { rev: number; done: () => void }[] = [];
  #watch: QueuedIterator<KvEntry> | undefined;
  #onError: (e: Error) => void;
  /** A user's mail arrived in the copy: the mailbox hands it out if the user is here. */
  onArrival: (user: string) => void = () => {};
  /** A notice arrived in the copy, from whichever node: its sender gets it if here. */
  onNotice: (n: Notice) => void = () => {};

  private constructor(kv: KV, dataDir: string, onError: (e: Error) => void) {
    this.kv = kv;
    this.#onError = onError;
    const dir = join(dataDir, "cluster-mailbox");
    rmSync(dir, { recursive: true, force: true }); // a copy: the bucket is the truth
    this.local = new SqliteMailboxStore(dir, false);
  }

  static async open(nc: NatsConnection, replicas: number, dataDir: string, onError: (e: Error) => void = () => {}): Promise<ClusterMailboxStore> {
    const deadline = Date.now() + LOAD_DEADLINE_MS;
    const kvm = new Kvm(nc);
    const what = `cannot use the cluster's mailbox bucket "${MAIL_BUCKET}", which the relays' NATS user must be allowed (README), or run with --offline-mail off`;
    const kv = await settled(what, deadline, async () => {
      try {
        const kv = await kvm.open(MAIL_BUCKET);
        await kv.status();
        return kv;
      } catch (e) {
        if (!/not found/i.test(String((e as Error)?.message ?? e))) throw e;
      }
      const servers = new Set(nc.info?.connect_urls ?? []).size;
      const r = replicas > 0 ? replicas : servers >= 3 ? 3 : 1;
      return await kvm.create(MAIL_BUCKET, { history: 1, replicas: r, description: "smsg relay cluster: prekeys, waiting mail, notices" });
    });
    const store = new ClusterMailboxStore(kv, dataDir, onError);
    await store.#start(deadline);
    return store;
  }

  async #start(deadline: number): Promise<void> {
    const what = "the cluster's mailbox did not answer";
    const state = (await settled(what, deadline, () => this.kv.status())).streamInfo.state;
    let ready!: () => void;
    const loaded = new Promise<void>((r) => (ready = r)).then(() => void (this.#loaded = true));
    if (state.messages === 0) ready();
    this.#watch = await settled(what, deadline, () => this.kv.watch());
    void (async () => {
      try {
        for await (const e of this.#watch!) {
          try {
            this.#apply(e);
          } catch (err) {
            this.#onError(err as Error);
          }
          this.#applied = Math.max(this.#applied, e.revision);
          this.#waiters = this.#waiters.filter((w) => (w.rev <= this.#applied ? (w.done(), false) : true));
          if (e.revision >= state.last_seq || e.delta === 0) ready();
        }
      } catch (err) {
        this.#onError(err as Error);
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      loaded,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ClusterError(`the cluster's mailbox did not load within ${LOAD_DEADLINE_MS / 1000} s`)), LOAD_DEADLINE_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Resolves once the copy has applied the bucket up to revision rev. */
  #seen(rev: number): Promise<void> {
    if (rev <= this.#applied) return Promise.resolve();
    return new Promise((done) => this.#waiters.push({ rev, done }));
  }

  #apply(e: KvEntry): void {
    const put = e.operation === "PUT";
    const t = e.key.split(".");
    switch (t[0]) {
      case "s":
        if (put) this.#signed.set(unescapeUser(t[1]!), e.value.slice());
        else this.#signed.delete(unescapeUser(t[1]!));
        return;
      case "o":
        this.#stock.set(unescapeUser(t[1]!), put ? parse<string[]>(e.value).length : 0);
        return;
      case "c": {
        if (!put) return;
        const [nonce, k] = [t[1]!, Number(t[2])];
        let p = this.#parts.get(nonce);
        if (!p) this.#parts.set(nonce, (p = { next: 0, upload: this.local.upload(), broken: false }));
        if (k !== p.next) p.broken = true;
        if (!p.broken) p.upload.write(e.value);
        p.next = k + 1;
        return;
      }
      case "w": {
        const [r, s, id] = [unescapeUser(t[1]!), unescapeUser(t[2]!), unhex(t[3]!)];
        if (!put) {
          this.local.remove(r, s, id);
          this.#where.delete(e.key);
          return;
        }
        const m = parse<MailRecord>(e.value);
        const p = this.#parts.get(m.nonce);
        this.#parts.delete(m.nonce);
        if (m.parts > 0 && (!p || p.broken || p.next !== m.parts)) {
          p?.upload.discard();
          throw new Error("waiting mail without all its parts in the cluster's mailbox");
        }
        const body = p ? p.upload.finish() : { inline: new Uint8Array(0) };
        this.local.hold([{ body, mail: { recipient: r, sender: s, id, size: m.size, deliver: unb64(m.deliver), created: m.created } }]);
        this.#where.set(e.key, { nonce: m.nonce, parts: m.parts });
        this.onArrival(r);
        return;
      }
      case "n": {
        const [s, r, id] = [unescapeUser(t[1]!), unescapeUser(t[2]!), unhex(t[3]!)];
        if (!put) return void this.local.removeNotice(s, r, id);
        const n = parse<NoticeRecord>(e.value);
        const notice: Notice = { sender: s, recipient: r, id, kind: n.kind, status: n.status, receipt: unb64(n.receipt) };
        this.local.putNotice(notice, e.created.getTime());
        if (this.#loaded) this.onNotice(notice);
        return;
      }
    }
  }

  /** Read-modify-write of one key by revision: a change another node made between is read again. */
  async #cas<T>(key: string, empty: T, change: (v: T) => T | undefined): Promise<number> {
    for (;;) {
      const e = await this.kv.get(key);
      const cur = e && e.operation === "PUT" ? parse<T>(e.value) : empty;
      const next = change(cur);
      if (next === undefined) return e?.revision ?? 0;
      try {
        return e ? await this.kv.update(key, json(next), e.revision) : await this.kv.create(key, json(next));
      } catch (err) {
        if (!conflict(err)) throw err;
      }
    }
  }

  async setPrekeys(user: string, signed: Uint8Array, replace: boolean, oneTime: Uint8Array[], maxStock: number): Promise<void> {
    const a = await this.kv.put(signedKey(user), signed);
    const b = await this.#cas<string[]>(stockKey(user), [], (have) => {
      const keep = replace ? [] : have;
      return [...keep, ...oneTime.slice(0, Math.max(0, maxStock - keep.length)).map(b64)];
    });
    await this.#seen(Math.max(a, b));
  }

  prekeyState(user: string): { oneTime: number; signed: Uint8Array | undefined } {
    return { oneTime: this.#stock.get(user) ?? 0, signed: this.#signed.get(user) };
  }

  async takeBundle(owner: string, taker: string, now: number, perHour: number): Promise<{ signed: Uint8Array; oneTime: Uint8Array | undefined } | undefined> {
    const s = await this.kv.get(signedKey(owner));
    if (!s || s.operation !== "PUT") return undefined;
    const signed = s.value.slice();
    let allowed = false;
    await this.#cas<number[]>(takesKey(owner, taker), [], (at) => {
      const recent = at.filter((x) => x >= now - 3600_000);
      allowed = recent.length < perHour;
      return allowed ? [...recent, now] : undefined;
    });
    if (!allowed) return { signed, oneTime: undefined };
    // Exactly once across the cluster: the stock shrinks only by a write at the revision read.
    let taken: string | undefined;
    await this.#cas<string[]>(stockKey(owner), [], (stock) => {
      taken = stock[0];
      return taken === undefined ? undefined : stock.slice(1);
    });
    return { signed, oneTime: taken === undefined ? undefined : unb64(taken) };
  }

  bytesFor(user: string): number {
    return this.local.bytesFor(user);
  }

  upload(): Upload {
    const nonce = randomBytes(12).toString("hex");
    const writes: Promise<unknown>[] = [];
    let count = 0;
    return {
      write: (data) => {
        const p = this.kv.put(partKey(nonce, count++), data.slice());
        p.catch(() => {}); // reported by hold(), which waits for every part
        writes.push(p);
      },
      finish: () => ({ parts: { nonce, count, written: Promise.all(writes).then(() => {}) } }),
      discard: () => {
        const n = count;
        void Promise.allSettled(writes).then(() => this.#purgeParts(nonce, n));
      },
    };
  }

  #purgeParts(nonce: string, n: number): Promise<unknown> {
    const all: Promise<unknown>[] = [];
    for (let k = 0; k < n; k++) all.push(this.kv.purge(partKey(nonce, k)));
    return Promise.allSettled(all);
  }

  async hold(items: { body: Body; mail: Omit<WaitingMail, "n"> }[]): Promise<void> {
    // HELD only once every part and the mail's record are acknowledged by the stream
    // (written by its replicas, SPEC.md §12.6), and the copy here holds it.
    // All at once: one round trip to the stream for the batch, not one per mail.
    const revisions = await Promise.all(
      items.map(async ({ body, mail }) => {
        if (!("parts" in body)) throw new Error("not an upload of the cluster's mailbox");
        await body.parts.written;
        const rec: MailRecord = { nonce: body.parts.nonce, parts: body.parts.count, size: mail.size, deliver: b64(mail.deliver), created: mail.created };
        const key = mailKey(mail.recipient, mail.sender, mail.id);
        const before = this.#where.get(key); // the same mail posted again: the older parts go
        const rev = await this.kv.put(key, json(rec));
        if (before && before.nonce !== rec.nonce) void this.#purgeParts(before.nonce, before.parts);
        return rev;
      }),
    );
    const last = Math.max(0, ...revisions);
    await this.#seen(last);
  }

  waiting(user: string, after: number, limit: number): WaitingMail[] {
    return this.local.waiting(user, after, limit);
  }

  readChunk(mail: WaitingMail, seq: number, chunkBytes: number): Uint8Array {
    return this.local.readChunk(mail, seq, chunkBytes);
  }

  async #remove(mail: { recipient: string; sender: string; id: Uint8Array }): Promise<void> {
    const key = mailKey(mail.recipient, mail.sender, mail.id);
    const where = this.#where.get(key);
    await this.kv.purge(key);
    if (where) await this.#purgeParts(where.nonce, where.parts);
  }

  async answered(items: { mail: WaitingMail; notice: Notice }[]): Promise<void> {
    for (const { mail, notice } of items) {
      await this.#putNotice(notice);
      await this.#remove(mail);
    }
  }

  #putNotice(n: Notice): Promise<number> {
    const rec: NoticeRecord = { kind: n.kind, status: n.status, receipt: b64(n.receipt) };
    return this.kv.put(noticeKey(n.sender, n.recipient, n.id), json(rec));
  }

  notices(sender: string): Notice[] {
    return this.local.notices(sender);
  }

  async removeNotice(sender: string, recipient: string, id: Uint8Array): Promise<void> {
    await this.kv.purge(noticeKey(sender, recipient, id));
  }

  /** Every node sweeps: two doing it at once write the same keys, and the senders are told once. */
  async expire(cutoff: number): Promise<number> {
    const old = this.local.older(cutoff);
    let last = 0;
    for (const m of old) {
      last = await this.#putNotice({ sender: m.sender, recipient: m.recipient, id: m.id, kind: "expired", status: "rejected", receipt: new Uint8Array(32) });
      await this.#remove(m);
    }
    await this.#seen(last);
    return old.length;
  }

  close(): void {
    this.#watch?.stop();
    for (const p of this.#parts.values()) p.upload.discard();
    this.local.close();
  }
}
