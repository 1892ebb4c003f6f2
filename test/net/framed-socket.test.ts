// The socket plumbing of relay and client (src/net/framed-socket.ts) on real loopback TCP:
// records given whole or in pieces, from several sockets at once, through the one join
// buffer they share, arrive intact and in order, also when the kernel takes only part of a
// write and the rest waits for drain.

import { afterAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { createHash, randomBytes } from "node:crypto";
import { FramedSocket } from "../../src/net/framed-socket.ts";
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

async function severalSockets(perRound: number): Promise<void> {
  {
    const received: Data[] = [];
    const server = Bun.listen<Data>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => {
          const d: Data = { got: [] };
          d.framed = new FramedSocket(s as Socket<unknown>, { onRecord: (r) => d.got.push(r), onClose: () => {} });
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
