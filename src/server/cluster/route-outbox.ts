// What a node routes to the other nodes during one turn of its event loop, published at the
// end of that turn (SPEC.md §11.2): one message alone on its user's route subject, more as
// batches on the node's. Each NATS message costs both nodes and nats-server far more than
// its bytes; flushing on a microtask instead (each socket read's routes) cost more CPU in the
// relays and in nats-server (bench/README.md, "Cross-node routing, second pass").

import type { NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_MAX_PAYLOAD } from "./presence-snapshot.ts";
import { batchOverhead, encodeBatch, encodeRouted, MAX_BATCH_RECORDS, recordOverhead } from "./route-batch.ts";
import { batchSubject, routeSubject } from "./subjects.ts";

/**
 * A batch grows to at most this many bytes (or the server's max_payload, if less): larger
 * ones save nothing more per record, and the receiving node starts on the first records
 * sooner than it would on one message of a megabyte.
 */
const BATCH_BYTES = 64 * 1024;

export class RouteOutbox {
  #nc: NatsConnection;
  #node: string;
  #batch: boolean;
  #guard: (f: () => void) => void;
  /** Routed messages not yet published, by node: sent together at the end of this turn. */
  #pending = new Map<string, { user: string; body: Uint8Array }[]>();
  #flushing: ReturnType<typeof setImmediate> | undefined;

  /**
   * node: this node's name, which each route message carries. batch false publishes each
   * routed message alone, as nodes did before batches (benches, tests). guard runs the
   * turn's flush, reporting what it throws.
   */
  constructor(nc: NatsConnection, node: string, batch: boolean, guard: (f: () => void) => void) {
    this.#nc = nc;
    this.#node = node;
    this.#batch = batch;
    this.#guard = guard;
  }

  /** Queue body (a §4 message, or DELIVER_REF) for user on node. */
  queue(node: string, user: string, body: Uint8Array): void {
    if (!this.#batch) return this.#nc.publish(routeSubject(node, user), encodeRouted(this.#node, body));
    let q = this.#pending.get(node);
    if (!q) this.#pending.set(node, (q = []));
    q.push({ user, body });
    this.#flushing ??= setImmediate(() => this.#guard(() => this.flush()));
  }

  get empty(): boolean {
    return this.#pending.size === 0;
  }

  /** Publish what is queued now (the end of the turn, or before a presence change). */
  flush(): void {
    if (this.#flushing) clearImmediate(this.#flushing);
    this.#flushing = undefined;
    const max = Math.min(BATCH_BYTES, this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD);
    // Taken first: a publish that throws (the connection closing) loses this turn's routes,
    // as NATS core may, and the transfers they belonged to end by the rules of §11.5.
    const pending = this.#pending;
    this.#pending = new Map();
    for (const [node, q] of pending) {
      if (q.length === 1) {
        this.#nc.publish(routeSubject(node, q[0]!.user), encodeRouted(this.#node, q[0]!.body));
        continue;
      }
      // As many records as fit BATCH_BYTES (a CHUNK is far smaller) per batch.
      let from = 0;
      let size = batchOverhead(this.#node);
      for (let i = 0; i <= q.length; i++) {
        const r = q[i];
        const add = r ? recordOverhead(r.user) + r.body.length : 0;
        if (r && i - from < MAX_BATCH_RECORDS && (i === from || size + add <= max)) {
          size += add;
          continue;
        }
        this.#nc.publish(batchSubject(node), encodeBatch(this.#node, q.slice(from, i)));
        from = i;
        size = batchOverhead(this.#node) + add;
      }
    }
  }
}
