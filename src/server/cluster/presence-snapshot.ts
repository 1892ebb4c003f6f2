// A node's full presence on request, in parts (SPEC.md §11.2, §11.4). One session's entry
// carries its hybrid session key, about 1.8 KB of JSON, so a snapshot in one NATS message
// (1 MiB by default) would hold only ~550 sessions: the reply is as many messages as the
// server's max_payload needs, all taken at one moment (one `seq`), each a JSON object
// naming its part and the number of parts. A part lost (NATS core delivers at most once)
// fails the whole request, and the asker asks again at the next heartbeat.

import { createInbox, type NatsConnection } from "@nats-io/transport-node";

export interface WireKey {
  identityPub: string; // base64
  sessionPub: string;
  sessionKemPub: string; // the ML-KEM-768 half, 1184 bytes (SPEC.md §5.1)
  issuedAt: number;
  sig: string;
}
export interface PresenceEntry {
  user: string;
  at: number; // when the session published its key, the node's clock: the newer one wins
  key: WireKey;
}
export interface Snapshot {
  epoch: string;
  seq: number;
  users: PresenceEntry[];
}
interface SnapshotPart extends Snapshot {
  part: number;
  parts: number;
}

/** NATS's own default, for a connection that has not heard the server's INFO yet. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

const enc = new TextEncoder();

/**
 * The snapshot as parts of at most maxPayload bytes each. Entries are whole in one part;
 * an entry alone bigger than a part cannot be sent and throws.
 */
export function snapshotParts(snap: Snapshot, maxPayload: number): Uint8Array[] {
  // The envelope with the widest numbers a part can have, so that any part fits.
  const envelope = JSON.stringify({ epoch: snap.epoch, seq: snap.seq, part: 0xffffffff, parts: 0xffffffff, users: [] }).length;
  const room = maxPayload - envelope;
  const groups: string[][] = [[]];
  let used = 0;
  for (const e of snap.users) {
    const s = JSON.stringify(e);
    const size = Buffer.byteLength(s) + 1; // and its comma
    if (size > room) throw new Error(`a presence entry of ${size} bytes does not fit a NATS message of ${maxPayload}`);
    if (used + size > room) {
      groups.push([]);
      used = 0;
    }
    groups.at(-1)!.push(s);
    used += size;
  }
  const head = (i: number): string => JSON.stringify({ epoch: snap.epoch, seq: snap.seq, part: i, parts: groups.length }).slice(0, -1);
  return groups.map((g, i) => enc.encode(`${head(i)},"users":[${g.join(",")}]}`));
}

/** Ask `subject` for a snapshot and gather its parts, or reject after timeoutMs. */
export function requestSnapshot(nc: NatsConnection, subject: string, timeoutMs: number): Promise<Snapshot> {
  const inbox = createInbox() // "_INBOX.", which the relays' NATS user may use;
  return new Promise<Snapshot>((resolve, reject) => {
    const got = new Map<number, PresenceEntry[]>();
    let first: SnapshotPart | undefined;
    const done = (err: Error | undefined, snap?: Snapshot): void => {
      clearTimeout(timer);
      sub.unsubscribe();
      if (err) reject(err);
      else resolve(snap!);
    };
    const timer = setTimeout(() => done(new Error(`${first ? `${got.size} of ${first.parts} parts` : "no reply"} within ${timeoutMs} ms`)), timeoutMs);
    const sub = nc.subscribe(inbox, {
      callback: (err, m) => {
        if (err) return done(err);
        try {
          const p = m.json<SnapshotPart>();
          const sane = Number.isInteger(p.parts) && p.parts >= 1 && Number.isInteger(p.part) && p.part >= 0 && p.part < p.parts && Array.isArray(p.users);
          if (!sane) throw new Error("a snapshot part without a valid part, parts or users");
          first ??= p;
          if (p.epoch !== first.epoch || p.seq !== first.seq || p.parts !== first.parts) throw new Error("snapshot parts of different moments");
          got.set(p.part, p.users);
          if (got.size === first.parts) done(undefined, { epoch: first.epoch, seq: first.seq, users: [...got.keys()].sort((a, b) => a - b).flatMap((i) => got.get(i)!) });
        } catch (e) {
          done(e as Error);
        }
      },
    });
    nc.publish(subject, new Uint8Array(0), { reply: inbox });
  });
}
