// What a node does with the routes other nodes send it (SPEC.md §11.2, §11.5): each record
// checked against the transfer it belongs to, as if its sender were local, and handed to the
// session it is for with its bytes as they came; a DELIVER_REF completed with the key its
// node announced; routes from a node not in the view refused (§11.5).

import type { Msg } from "@nats-io/transport-node";
import type { HubCore } from "../hub.ts";
import type { Log } from "../log.ts";
import { MAX_INCOMING_PER_SESSION, type Transfer, type TransferEnd } from "../transfer.ts";
import { Writer } from "../../protocol/codec.ts";
import { bytesEqual } from "../../protocol/bytes.ts";
import { encodeSignedKey, idHex, WINDOW_CHUNKS, type Message, type MessageOf } from "../../protocol/messages.ts";
import { isUserId } from "../../protocol/user-id.ts";
import { decodeBatch, decodeRouted, deliverOf, type DeliverRef, type RouteRecord } from "./route-batch.ts";
import { b64, fromWire, RemoteEnd, type NodeView } from "./remote-end.ts";
import { NODE_NAME, unescapeUser } from "./subjects.ts";

/** What the reception needs of the hub it works for (NatsHub). */
export interface RouteInboxDeps {
  /** This node's name. */
  node: string;
  log: Log;
  core(): HubCore;
  /** The node of that name in this node's view, if it is. */
  nodeView(name: string): NodeView | undefined;
  /** The session of user on this node, if any. */
  local(user: string): TransferEnd | undefined;
  /** user on node v, made if not yet known. */
  remote(v: NodeView, user: string): RemoteEnd;
  /** Route m to user on node (at the end of this turn). */
  send(node: string, user: string, m: Message): void;
  /** Routes came from a node not in the view: learn it. */
  unknownNode(node: string): void;
}

export class RouteInbox {
  #deps: RouteInboxDeps;

  constructor(deps: RouteInboxDeps) {
    this.#deps = deps;
  }

  /** One message on a user's route subject. */
  onRouted(msg: Msg): void {
    const { from, records } = decodeRouted(unescapeUser(msg.subject.slice(msg.subject.lastIndexOf(".") + 1)), msg.data);
    this.#onRoute(from, records);
  }

  onBatch(msg: Msg): void {
    const { from, records } = decodeBatch(msg.data);
    this.#onRoute(from, records);
  }

  #onRoute(from: string, records: RouteRecord[]): void {
    const v = this.#deps.nodeView(from);
    if (!v) return this.#fromUnknown(from, records);
    v.heard = Date.now();
    for (const r of records) {
      try {
        if ("ref" in r) this.#onDeliverRef(v, r.user, r.ref);
        else this.#onRecord(v, r.user, r.m, r.bytes);
      } catch (e) {
        this.#deps.log.warn("cluster-message-bad", { err: (e as Error).message });
      }
    }
  }

  /**
   * Routes from a node not in this one's view: one it dropped (a heartbeat late under load)
   * that has not dropped this one, or one not yet heard. Every transfer through it ended with
   * the drop, and this node told it so then (NatsHub, abortThrough); a DELIVER opens a new one, which
   * its node would hold open until its idle limit if nothing answered: refuse it at once, so
   * the sender retries, and learn that node again, so the two views converge.
   */
  #fromUnknown(from: string, records: RouteRecord[]): void {
    if (from === this.#deps.node || !NODE_NAME.test(from)) return;
    for (const r of records) {
      const d = "ref" in r ? r.ref : r.m.t === "deliver" ? r.m : undefined;
      if (d && isUserId(d.from)) this.#deps.send(from, d.from, { t: "sendFailed", id: d.id, reason: "aborted" });
    }
    this.#deps.unknownNode(from);
  }

  /** `bytes`: m as it came, passed on with it so that the session sends them instead of encoding m again. */
  #onRecord(v: NodeView, user: string, m: Message, bytes: Uint8Array): void {
    const core = this.#deps.core();
    const as = (): Writer => new Writer().bytes(bytes);
    const from = v.name;
    const local = this.#deps.local(user);
    const viaNode = (e: TransferEnd): boolean => e instanceof RemoteEnd && e.node === from;
    switch (m.t) {
      case "deliver":
        return this.#onDeliver(v, local, m, as());
      case "chunk": {
        const t = local?.incoming.get(idHex(m.id));
        if (!t || !viaNode(t.from)) return;
        const bad = t.done || m.seq !== t.nextSeq || m.seq >= t.limit || t.received + m.data.length > t.size || (m.last && t.received + m.data.length !== t.size);
        if (bad) return this.#abort(t, "a chunk between nodes out of order or lost");
        t.received += m.data.length;
        t.nextSeq++;
        t.done = m.last;
        t.last = core.now();
        t.to.post(m, as());
        return;
      }
      case "window":
      case "ack": {
        const t = local?.outgoing.get(idHex(m.id));
        if (!t || !viaNode(t.to)) return;
        if (m.t === "window") {
          // The recipient's node granted this limit from its budgets; here it is only held to.
          if (m.seq < t.window || m.seq > t.nextSeq || m.limit < t.limit || m.limit < m.seq + WINDOW_CHUNKS) {
            return this.#abort(t, "a window between nodes out of range");
          }
          t.window = m.seq;
          t.limit = m.limit;
          t.last = core.now();
        } else core.endTransfer(t);
        t.from.post(m, as());
        return;
      }
      case "abort": {
        const t = local?.incoming.get(idHex(m.id));
        if (!t || !viaNode(t.from)) return;
        core.endTransfer(t);
        t.to.post(m, as());
        return;
      }
      case "sendFailed": {
        const t = local?.outgoing.get(idHex(m.id));
        if (!t || !viaNode(t.to)) return;
        core.endTransfer(t);
        t.from.post(m, as());
        return;
      }
      default:
        throw new Error(`a node may not route ${m.t}`);
    }
  }

  #abort(t: Transfer, why: string): void {
    this.#deps.log.warn("cluster-transfer-aborted", { from: t.from.user, to: t.to.user, why });
    this.#deps.core().endTransfer(t);
    t.to.post({ t: "abort", id: t.id });
    t.from.post({ t: "sendFailed", id: t.id, reason: "aborted" });
  }

  /**
   * A DELIVER_REF from node v: the DELIVER it stands for, with the key of its sender that v
   * announced and whose signature it names (SPEC.md §11.2). v sent that change before this;
   * a snapshot asked for meanwhile may still hold it back, queued. A key this node does not
   * hold ends the transfer as a gap would (SEND_FAILED aborted: the sender retries).
   */
  #onDeliverRef(v: NodeView, user: string, ref: DeliverRef): void {
    const r = v.users.get(ref.from);
    let key = r?.present && r.sessionKey && bytesEqual(r.sessionKey.sig, ref.keySig) ? r.sessionKey : undefined;
    let keyBytes = key && r?.keyBytes;
    if (!key) {
      const sig = b64(ref.keySig);
      const c = v.queued.findLast((q) => q.user === ref.from && q.online && q.key?.sig === sig);
      key = c?.key && fromWire(c.key);
      keyBytes = key && encodeSignedKey(key);
    }
    if (!key || !keyBytes) {
      this.#deps.log.warn("cluster-deliver-key-unknown", { node: v.name, from: ref.from });
      return void this.#deps.remote(v, ref.from).post({ t: "sendFailed", id: ref.id.slice(), reason: "aborted" });
    }
    const { m, encoded } = deliverOf(ref, key, keyBytes);
    this.#onDeliver(v, this.#deps.local(user), m, encoded);
  }

  /** A DELIVER from a sender on node v: the recipient's side of SEND (SPEC.md §6.2). */
  #onDeliver(v: NodeView, to: TransferEnd | undefined, m: MessageOf<"deliver">, encoded: Writer): void {
    const core = this.#deps.core();
    if (!isUserId(m.from)) return;
    const from = this.#deps.remote(v, m.from);
    const key = idHex(m.id);
    const fail = (reason: MessageOf<"sendFailed">["reason"]): void => void from.post({ t: "sendFailed", id: m.id, reason });
    if (!to) return fail("offline");
    if (!to.sessionKey || !bytesEqual(to.sessionKey.sessionPub, m.recipientSessionPub)) return fail("stale-key");
    if (to.incoming.has(key) || to.incoming.size >= MAX_INCOMING_PER_SESSION || from.outgoing.has(key)) return fail("busy");
    const t: Transfer = { id: m.id, key, from, to, size: m.size, received: 0, nextSeq: 0, window: 0, limit: WINDOW_CHUNKS, extra: 0, done: false, last: core.now() };
    from.outgoing.set(key, t);
    to.incoming.set(key, t);
    to.post(m, encoded);
  }
}
