// The socket plumbing of relay and client (src/net/framed-socket.ts) on real loopback TCP:
// records given whole or in pieces, from several sockets at once, through the one join
// buffer they share, arrive intact and in order, also when the kernel takes only part of a
// write and the rest waits for drain; and each read Bun hands over is released once its
// records are handed over, never while one of them still waits.

import { afterAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { createHash, randomBytes } from "node:crypto";
import { FramedSocket } from "../../src/net/framed-socket.ts";
import { encodeRecord } from "../../src/protocol/framing.ts";
import { concat, copyBytes } from "../../src/protocol/bytes.ts";
import { waitFor } from "../support/harness.ts";

type Data = { framed?: FramedSocket; got: Uint8Array[] };

const listeners: TCPSocketListener<Data>[] = [];
afterAll(() => {
  for (const l of listeners) l.stop(true);
});

const RECORDS = 300;
const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("FramedSocket", () => {
  test("several sockets' records, whole and in pieces, arrive intact past partial writes", () => severalSockets(10));

  // Over a megabyte per flush: written in turns of the shared buffer's size, each turn's rest
  // kept apart from the records not yet joined.
  test("flushes larger than the shared buffer arrive intact past partial writes", () => severalSockets(30), 60_000);
});

describe("FramedSocket's reads", () => {
  test("several records in one read: each intact while handed over, the read released after; a view kept reads empty", async () => {
    const bodies = Array.from({ length: 8 }, () => randomBytes(6000));
    const p = await pair((rec, at) => {
      at.views.push(rec);
      at.digests.push(digest(rec));
    });
    p.write(concat(...bodies.map(encodeRecord)));
    await waitFor("every record", () => p.at.digests.length === bodies.length || undefined);
    expect(p.at.digests).toEqual(bodies.map(digest));
    expect(p.reads.some((r) => r.length >= 16 * 1024 && r.records > 1)).toBe(true); // the case under test happened
    expectLargeReadsReleased(p.reads);
    // What a handler must not do: a view kept past onRecord reads as empty once its read is released.
    expect(p.at.views.some((v) => v.length === 0)).toBe(true);
    p.close();
  });

  test("paused from within onRecord: the read's other records wait intact, and it is released once they are handed over", async () => {
    const bodies = Array.from({ length: 8 }, () => randomBytes(4000));
    let pausedOnce = false;
    const p = await pair((rec, at, framed) => {
      at.digests.push(digest(rec));
      if (!pausedOnce) {
        pausedOnce = true;
        framed.pause();
      }
    });
    p.write(concat(...bodies.map(encodeRecord)));
    await waitFor("the first record", () => p.at.digests.length === 1 || undefined);
    const first = p.reads[0]!;
    expect(first.length).toBeGreaterThanOrEqual(2 * (2 + 4000)); // a second record of this read waits in the socket
    expect((first.buf.buffer as ArrayBuffer).detached).toBe(false);
    p.server().resume();
    await waitFor("every record", () => p.at.digests.length === bodies.length || undefined);
    expect(p.at.digests).toEqual(bodies.map(digest));
    expectLargeReadsReleased(p.reads);
    p.close();
  });

  test("a record split across reads, between whole ones: assembled apart, every record intact, both reads released", async () => {
    const bodies = [randomBytes(20_000), randomBytes(30_000), randomBytes(20_000)];
    const wire = concat(...bodies.map(encodeRecord));
    const cut = 2 + 20_000 + 2 + 15_000; // the first record, and half of the second
    const p = await pair((rec, at) => at.digests.push(digest(rec)));
    p.write(wire.slice(0, cut));
    await waitFor("the first part read", () => p.reads.reduce((n, r) => n + r.length, 0) === cut || undefined);
    expect(p.at.digests).toEqual([digest(bodies[0]!)]);
    p.write(wire.slice(cut));
    await waitFor("every record", () => p.at.digests.length === bodies.length || undefined);
    expect(p.at.digests).toEqual(bodies.map(digest));
    expectLargeReadsReleased(p.reads);
    p.close();
  });

  test("paused on every other record and resumed a moment later: handed over once each, in order, intact", async () => {
    // As the relay does while a peer's output is over its budget: resume runs from elsewhere
    // (here a microtask), with records of a read still waiting.
    const bodies = Array.from({ length: 12 }, () => randomBytes(3000));
    const p = await pair((rec, at, framed) => {
      at.digests.push(digest(rec));
      if (at.digests.length % 2 === 1) {
        framed.pause();
        queueMicrotask(() => framed.resume());
      }
    });
    p.write(concat(...bodies.map(encodeRecord)));
    await waitFor("every record", () => p.at.digests.length === bodies.length || undefined);
    expect(p.at.digests).toEqual(bodies.map(digest));
    expectLargeReadsReleased(p.reads);
    p.close();
  });
});

type Kept = { views: Uint8Array[]; digests: string[] };
type Read = { buf: Uint8Array; length: number; records: number };

/** Every read of 16 KiB or more was given back (it is detached), whatever records it held. */
function expectLargeReadsReleased(reads: Read[]): void {
  const large = reads.filter((r) => r.length >= 16 * 1024);
  expect(large.length).toBeGreaterThan(0);
  for (const r of large) expect((r.buf.buffer as ArrayBuffer).detached).toBe(true);
}

/**
 * A server FramedSocket with this onRecord, and a client writing raw bytes to it; each read the
 * server's socket handed over is noted (its length as it came, and how many records it handed over at once).
 */
async function pair(onRecord: (rec: Uint8Array, at: Kept, framed: FramedSocket) => void) {
  const at: Kept = { views: [], digests: [] };
  const reads: Read[] = [];
  let serverSide: FramedSocket | undefined;
  const server = Bun.listen<Data>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (s) => {
        const framed = new FramedSocket(s as Socket<unknown>, { onRecord: (r) => onRecord(r, at, framed), onClose: () => {} });
        serverSide = framed;
        s.data = { framed, got: [] };
      },
      data: (s, chunk) => {
        const read: Read = { buf: chunk, length: chunk.length, records: 0 };
        reads.push(read);
        const before = at.digests.length;
        s.data.framed?.data(chunk);
        read.records = at.digests.length - before; // handed over from it while the call lasted
      },
      drain: (s) => s.data.framed?.drain(),
      close: (s) => s.data.framed?.socketClosed(),
    },
  });
  listeners.push(server);
  let client: FramedSocket | undefined;
  await Bun.connect<{ framed?: FramedSocket }>({
    hostname: "127.0.0.1",
    port: server.port,
    socket: {
      open: (s) => {
        client = new FramedSocket(s as Socket<unknown>, { onRecord: () => {}, onClose: () => {} });
        s.data = { framed: client };
      },
      data: () => {},
      drain: (s) => s.data?.framed?.drain(),
      close: (s) => s.data?.framed?.socketClosed(),
    },
  });
  await waitFor("the server to accept", () => serverSide);
  return {
    at,
    reads,
    server: () => serverSide!,
    write: (bytes: Uint8Array) => client!.sendRaw(bytes),
    close: () => client!.close(),
  };
}

async function severalSockets(perRound: number): Promise<void> {
  {
    const received: Data[] = [];
    const server = Bun.listen<Data>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => {
          const d: Data = { got: [] };
          d.framed = new FramedSocket(s as Socket<unknown>, { onRecord: (r) => d.got.push(copyBytes(r)), onClose: () => {} });
          s.data = d;
          received.push(d);
        },
        data: (s, chunk) => s.data.framed?.data(chunk),
        drain: (s) => s.data.framed?.drain(),
        close: (s) => s.data.framed?.socketClosed(),
      },
    });
    listeners.push(server);

    const senders: FramedSocket[] = [];
    for (let i = 0; i < 3; i++) {
      await Bun.connect<{ framed?: FramedSocket }>({
        hostname: "127.0.0.1",
        port: server.port,
        socket: {
          open: (s) => {
            const f = new FramedSocket(s as Socket<unknown>, { onRecord: () => {}, onClose: () => {} });
            s.data = { framed: f };
            senders.push(f);
          },
          data: () => {},
          drain: (s) => s.data?.framed?.drain(),
          close: (s) => s.data?.framed?.socketClosed(),
        },
      });
    }
    await waitFor("the server to accept all three", () => received.length === 3 || undefined);

    // Rounds of perRound records of 32 to 64 KiB per socket (10: under 1 MiB, the shared join buffer),
    // each round flushed before the next is queued, with no I/O in between: the kernel soon
    // takes only part of a write, and a socket's rest must survive the next socket's join.
    const sent: string[][] = senders.map(() => []);
    for (let round = 0; round < RECORDS / perRound; round++) {
      for (let k = 0; k < perRound; k++) {
        const n = round * perRound + k;
        senders.forEach((f, i) => {
          const size = 32768 + ((n * 7919 + i * 104729) % 32768);
          const body = randomBytes(size);
          sent[i]!.push(digest(body));
          if (n % 3 === 0) return f.send(body);
          const a = Math.floor(size / 3);
          const b = Math.floor((2 * size) / 3);
          f.send([body.subarray(0, a), body.subarray(a, b), body.subarray(b)]);
        });
      }
      await Promise.resolve(); // the flushes run as microtasks, not as I/O
      await Promise.resolve();
    }
    // The kernel did not take everything: the rest waits in each socket's own backlog.
    expect(senders.some((f) => f.queuedBytes > 0)).toBe(true);

    await waitFor("every record to arrive", () => received.every((d) => d.got.length === RECORDS) || undefined, 30_000);
    // Each server-side connection is one of the senders: match by the first record.
    for (const d of received) {
      const digests = d.got.map(digest);
      const i = sent.findIndex((s) => s[0] === digests[0]);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(digests).toEqual(sent[i]!);
    }
    expect(senders.every((f) => f.queuedBytes === 0)).toBe(true);
  }
}
