// Presence and routing between the nodes of a relay cluster over NATS core (SPEC.md §11.4,
// §11.5). Each node holds its own sessions, as the LocalHub does, and learns every other
// node's from their presence changes, numbered per node, with a full snapshot on request
// when a number is missed. A user on another node is a RemoteEnd: messages posted to it go
// to its node on a route subject, where they are checked against the transfer they belong
// to as if the sender were local. NATS core delivers at most once, so a gap in a transfer
// (a chunk out of order, a node silent past NODE_TIMEOUT_MS, a lost connection to NATS)
// aborts it: the sender retries, and the recipient's client answers a repeat "duplicate".
// Here: this node's sessions and presence, the other nodes' presence, the lifecycle; what is
// routed goes out through route-outbox.ts and comes in through route-inbox.ts.

import { randomBytes } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Hub, HubCore, PresenceListener } from "../hub.ts";
import type { Log } from "../log.ts";
import type { TransferEnd } from "../transfer.ts";
import type { Writer } from "../../protocol/codec.ts";
import { encodeMessage, encodeSignedKey, keyEncoding, sealedKeyAt, type Message, type MessageOf } from "../../protocol/messages.ts";
import { isUserId } from "../../protocol/user-id.ts";
import { bytesEqual, bytesEqualAt } from "../../protocol/bytes.ts";
import { DEFAULT_MAX_PAYLOAD, requestSnapshot, snapshotParts, type PresenceEntry, type Snapshot, type WireKey } from "./presence-snapshot.ts";
import { deliverRefFrom, encodeDeliverRef } from "./route-batch.ts";
import { batchSubject, HEARTBEAT, PRESENCE, routeWildcard, snapshotSubject } from "./subjects.ts";
import { b64, fromWire, RemoteEnd, toWire, type Heartbeat, type NodeView, type PresenceChange } from "./remote-end.ts";
import { RouteOutbox } from "./route-outbox.ts";
import { RouteInbox } from "./route-inbox.ts";

/** Every node says it is alive this often... */
export const HEARTBEAT_MS = 1000;
/** ...and one not heard from for this long is gone, with its users and transfers. */
export const NODE_TIMEOUT_MS = 4000;
const SNAPSHOT_TIMEOUT_MS = 3000;

const json = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));

export class NatsHub implements Hub<TransferEnd> {
  readonly node: string;
  readonly epoch = randomBytes(8).toString("hex");
  #nc: NatsConnection;
  #core: HubCore | undefined;
  #local = new Map<string, { end: TransferEnd; at: number }>();
  #nodes = new Map<string, NodeView>();
  #listeners = new Set<PresenceListener>();
  #seq = 0;
  #subs: Subscription[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #log: Log;
  #outbox: RouteOutbox;
  #inbox: RouteInbox;
  /** Nodes heard from only by their routes, asked for a snapshot now. */
  #relearning = new Set<string>();

  /** batch false publishes each routed message alone, as nodes did before batches (benches, tests). */
  constructor(nc: NatsConnection, node: string, log: Log, opts: { batch?: boolean } = {}) {
    this.#nc = nc;
    this.node = node;
    this.#log = log;
    this.#outbox = new RouteOutbox(nc, node, opts.batch ?? true, (f) => this.#guard(f));
    this.#inbox = new RouteInbox({
      node,
      log,
      core: () => this.#core!,
      nodeView: (name) => this.#nodes.get(name),
      local: (user) => this.#local.get(user)?.end,
      remote: (v, user) => this.#remote(v, user),
      send: (n, u, m) => this.#send(n, u, m),
      unknownNode: (n) => void this.#relearn(n),
    });
  }

  /** Start listening and beating; called once the relay's core exists. */
  bind(core: HubCore): void {
    this.#core = core;
    const nc = this.#nc;
    this.#subs.push(
      nc.subscribe(HEARTBEAT, { callback: (_e, m) => this.#guard(() => this.#onHeartbeat(m.json<Heartbeat>())) }),
      nc.subscribe(PRESENCE, { callback: (_e, m) => this.#guard(() => this.#onPresence(m.json<PresenceChange>())) }),
      nc.subscribe(snapshotSubject(this.node), { callback: (_e, m) => this.#guard(() => this.#sendSnapshot(m)) }),
      nc.subscribe(routeWildcard(this.node), { callback: (_e, m) => this.#guard(() => this.#inbox.onRouted(m)) }),
      nc.subscribe(batchSubject(this.node), { callback: (_e, m) => this.#guard(() => this.#inbox.onBatch(m)) }),
    );
    this.#timer = setInterval(() => this.#tick(), HEARTBEAT_MS);
    this.#beat();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") {
          // Whatever crossed between nodes meanwhile may be lost: end those transfers now.
          this.#log.warn("nats-disconnected", { server: s.server });
          for (const v of this.#nodes.values()) for (const r of v.users.values()) this.#abortThrough(r, "aborted");
        } else if (s.type === "reconnect") {
          this.#log.info("nats-reconnected", { server: s.server });
          // Presence changes may have been missed: ask every node for its whole presence again.
          for (const v of this.#nodes.values()) void this.#sync(v);
          this.#beat();
        }
      }
    })();
  }

  #guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.#log.warn("cluster-message-bad", { err: (e as Error).message });
    }
  }

  stop(): void {
    this.#guard(() => this.#outbox.flush());
    clearInterval(this.#timer);
    for (const s of this.#subs) s.unsubscribe();
  }

  // --- the Hub interface ------------------------------------------------------------------

  attach(end: TransferEnd): TransferEnd | undefined {
    const old = this.#local.get(end.user);
    const wasOnline = this.#online(end.user);
    const at = Math.max(this.#core?.now() ?? Date.now(), (old?.at ?? 0) + 1);
    this.#local.set(end.user, { end, at });
    if (end.sessionKey) this.#announce({ user: end.user, online: true, at, key: toWire(end.sessionKey) });
    if (!wasOnline) this.#emit(end.user, true);
    return old?.end;
  }

  detach(end: TransferEnd): void {
    if (this.#local.get(end.user)?.end !== end) return;
    this.#local.delete(end.user);
    this.#announce({ user: end.user, online: false });
    if (!this.#online(end.user)) this.#emit(end.user, false);
  }

  find(user: string): TransferEnd | undefined {
    const local = this.#local.get(user);
    if (local) return local.end;
    let best: RemoteEnd | undefined;
    for (const v of this.#nodes.values()) {
      const r = v.users.get(user);
      if (r?.present && (!best || r.at > best.at)) best = r;
    }
    return best;
  }

  online(): string[] {
    const all = new Set(this.#local.keys());
    for (const v of this.#nodes.values()) for (const r of v.users.values()) if (r.present) all.add(r.user);
    return [...all].sort();
  }

  subscribe(listener: PresenceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Other nodes heard from now (the admin page, logs and tests). */
  nodes(): string[] {
    return [...this.#nodes.keys()].sort();
  }

  #online(user: string): boolean {
    if (this.#local.has(user)) return true;
    for (const v of this.#nodes.values()) if (v.users.get(user)?.present) return true;
    return false;
  }

  #emit(user: string, online: boolean): void {
    for (const l of this.#listeners) l(user, online);
  }

  // --- presence between nodes -------------------------------------------------------------

  #announce(c: { user: string; online: boolean; at?: number; key?: WireKey }): void {
    const msg: PresenceChange = { node: this.node, epoch: this.epoch, seq: ++this.#seq, ...c };
    // What was routed before this change goes before it: an ACK queued for a user who then
    // left must reach the sender's node before that node hears the user is gone.
    if (!this.#outbox.empty) this.#outbox.flush();
    this.#nc.publish(PRESENCE, json(msg));
  }

  #beat(): void {
    const hb: Heartbeat = { node: this.node, epoch: this.epoch, seq: this.#seq };
    this.#nc.publish(HEARTBEAT, json(hb));
  }

  /** The reply to a snapshot request: every session here now, in as many parts as NATS needs. */
  #sendSnapshot(m: Msg): void {
    const users: PresenceEntry[] = [];
    for (const [user, { end, at }] of this.#local) if (end.sessionKey) users.push({ user, at, key: toWire(end.sessionKey) });
    const snap: Snapshot = { epoch: this.epoch, seq: this.#seq, users };
    for (const part of snapshotParts(snap, this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD)) m.respond(part);
  }

  #tick(): void {
    this.#beat();
    const now = Date.now();
    for (const v of [...this.#nodes.values()]) {
      if (now - v.heard <= NODE_TIMEOUT_MS) continue;
      this.#log.warn("node-gone", { node: v.name, users: v.users.size });
      this.#dropNode(v);
    }
  }

  #view(node: string, epoch: string): NodeView | undefined {
    if (node === this.node) {
      // Another process under this node's name: presence would flap between the two.
      if (epoch !== this.epoch) this.#log.error("node-name-taken", { node });
      return undefined;
    }
    let v = this.#nodes.get(node);
    if (v && v.epoch !== epoch) {
      this.#log.info("node-restarted", { node });
      this.#dropNode(v);
      v = undefined;
    }
    if (!v) {
      v = { name: node, epoch, seq: 0, heard: Date.now(), syncing: false, queued: [], users: new Map() };
      this.#nodes.set(node, v);
      this.#log.info("node-joined", { node });
      void this.#sync(v);
    }
    v.heard = Date.now();
    return v;
  }

  #onHeartbeat(hb: Heartbeat): void {
    const v = this.#view(hb.node, hb.epoch);
    if (v && !v.syncing && hb.seq > v.seq) void this.#sync(v); // a change was lost
  }

  #onPresence(c: PresenceChange): void {
    const v = this.#view(c.node, c.epoch);
    if (!v) return;
    if (v.syncing) {
      v.queued.push(c);
      return;
    }
    if (c.seq <= v.seq) return;
    if (c.seq !== v.seq + 1) {
      v.queued.push(c);
      void this.#sync(v);
      return;
    }
    v.seq = c.seq;
    this.#applyChange(v, c);
  }

  async #sync(v: NodeView): Promise<void> {
    if (v.syncing) return;
    v.syncing = true;
    let snap: Snapshot;
    try {
      snap = await requestSnapshot(this.#nc, snapshotSubject(v.name), SNAPSHOT_TIMEOUT_MS);
    } catch (e) {
      v.syncing = false;
      this.#log.warn("snapshot-failed", { node: v.name, err: (e as Error).message });
      return; // the next heartbeat asks again
    }
    if (this.#nodes.get(v.name) !== v) return; // dropped meanwhile
    v.syncing = false;
    if (snap.epoch !== v.epoch) return; // it restarted: its next heartbeat starts over
    const listed = new Set<string>();
    for (const e of snap.users) {
      if (!isUserId(e.user)) continue;
      listed.add(e.user);
      this.#applyChange(v, { node: v.name, epoch: v.epoch, seq: snap.seq, user: e.user, online: true, at: e.at, key: e.key });
    }
    for (const r of [...v.users.values()]) if (r.present && !listed.has(r.user)) this.#applyChange(v, { node: v.name, epoch: v.epoch, seq: snap.seq, user: r.user, online: false });
    v.seq = snap.seq;
    const queued = v.queued.sort((a, b) => a.seq - b.seq);
    v.queued = [];
    for (const c of queued) this.#onPresence(c);
  }

  #remote(v: NodeView, user: string): RemoteEnd {
    let r = v.users.get(user);
    if (!r) v.users.set(user, (r = new RemoteEnd(v.name, user, (n, u, m, e) => this.#send(n, u, m, e))));
    return r;
  }

  #applyChange(v: NodeView, c: PresenceChange): void {
    if (!isUserId(c.user)) return;
    const wasOnline = this.#online(c.user);
    if (c.online && c.key && typeof c.at === "number") {
      const r = this.#remote(v, c.user);
      const key = fromWire(c.key);
      if (r.present && r.sessionKey && b64(r.sessionKey.sessionPub) !== c.key.sessionPub) this.#abortThrough(r, "recipient-gone"); // a newer session there
      r.sessionKey = key;
      r.keyBytes = encodeSignedKey(key);
      r.at = c.at;
      r.present = true;
      // The same user connected here too: the newer connection wins, as on one relay.
      const local = this.#local.get(c.user);
      if (local && local.at < c.at) {
        this.#log.info("replaced", { user: c.user, addr: local.end.address, by: `node:${v.name}` });
        local.end.fail("replaced", "replaced by a newer connection of the same user");
      }
    } else if (!c.online) {
      const r = v.users.get(c.user);
      if (!r) return;
      v.users.delete(c.user);
      r.present = false;
      this.#abortThrough(r, "recipient-gone");
    }
    const isOnline = this.#online(c.user);
    if (isOnline !== wasOnline) this.#emit(c.user, isOnline);
  }

  #dropNode(v: NodeView): void {
    this.#nodes.delete(v.name);
    for (const r of [...v.users.values()]) {
      const wasOnline = this.#online(r.user);
      v.users.delete(r.user);
      r.present = false;
      this.#abortThrough(r, "recipient-gone");
      if (wasOnline && !this.#online(r.user)) this.#emit(r.user, false);
    }
  }

  /** End every transfer between this node and r, telling both sides. */
  #abortThrough(r: RemoteEnd, reason: "aborted" | "recipient-gone"): void {
    const core = this.#core;
    if (!core) return;
    for (const t of [...r.outgoing.values()]) {
      core.endTransfer(t);
      t.to.post({ t: "abort", id: t.id });
      r.post({ t: "sendFailed", id: t.id, reason: "aborted" });
    }
    for (const t of [...r.incoming.values()]) {
      core.endTransfer(t);
      r.post({ t: "abort", id: t.id });
      t.from.post({ t: "sendFailed", id: t.id, reason });
    }
  }

  // --- routed messages --------------------------------------------------------------------

  /**
   * Queue m for user on node; what is queued for a node goes out at the end of this turn of
   * the event loop, one message alone or all as batches (SPEC.md §11.2). `encoded`, when the
   * caller has it (a CHUNK or ACK as received, a DELIVER spliced from its SEND), is copied
   * instead of m being encoded again.
   */
  #send(node: string, user: string, m: Message, encoded?: Writer): void {
    // Now: m may hold buffers its sender reuses.
    let body: Uint8Array;
    if (encoded) {
      // A DELIVER's fields are not read out of its encoding (a relay's is spliced from the
      // SEND): its key is compared, and its DELIVER_REF spliced, where they lie.
      body = encoded.finish();
      if (m.t === "deliver" && this.#announcedAt(m.from, body)) body = deliverRefFrom(body);
    } else body = m.t === "deliver" && this.#announced(m) ? encodeDeliverRef(m) : encodeMessage(m);
    this.#outbox.queue(node, user, body);
  }

  /** #announced for a DELIVER given as its encoding: the key field compared with the announced key's. */
  #announcedAt(from: string, deliver: Uint8Array): boolean {
    const key = this.#local.get(from)?.end.sessionKey;
    return key !== undefined && bytesEqualAt(keyEncoding(key), deliver, sealedKeyAt(deliver));
  }

  /**
   * Whether m's sender key is the one this node announced for its sender (SPEC.md §11.2): then
   * every other node has it, the change having gone out before this DELIVER, and m may go as
   * DELIVER_REF. Not so for a message the mailbox delivers for a sender since gone.
   */
  #announced(m: MessageOf<"deliver">): boolean {
    const key = this.#local.get(m.from)?.end.sessionKey;
    const k = m.senderKey;
    return (
      key !== undefined &&
      key.issuedAt === k.issuedAt &&
      bytesEqual(key.sig, k.sig) &&
      bytesEqual(key.sessionPub, k.sessionPub) &&
      bytesEqual(key.identityPub, k.identityPub) &&
      bytesEqual(key.sessionKemPub, k.sessionKemPub)
    );
  }

  /** Ask a node heard from only by its routes for its presence; its reply names its epoch. */
  async #relearn(node: string): Promise<void> {
    if (this.#relearning.has(node)) return;
    this.#relearning.add(node);
    this.#log.info("node-unknown-routes", { node });
    try {
      const snap = await requestSnapshot(this.#nc, snapshotSubject(node), SNAPSHOT_TIMEOUT_MS);
      // Its heartbeat or a change may have come first; else this joins it (and syncs it).
      if (!this.#nodes.has(node)) this.#view(node, snap.epoch);
    } catch (e) {
      this.#log.warn("snapshot-failed", { node, err: (e as Error).message }); // its next route asks again
    } finally {
      this.#relearning.delete(node);
    }
  }
}
