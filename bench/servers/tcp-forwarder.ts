// The upper-bound baseline of the relay message rate: a minimal plain TCP forwarder in the
// same runtime. A client names its pair and side in a 5-byte hello (u8 side, u32 pair);
// from then on every byte one side sends is written to the other side unread, both ways.
// No framing, no crypto, no routing table beyond the pair: what Bun and the kernel cost.
//
// Also the baseline for idle connections: it holds whatever connects, hello or not.

import type { Socket } from "bun";
import { ByteWriter } from "../lib/byte-writer.ts";

type Conn = { hello: Uint8Array; peer?: Conn; out: ByteWriter; early: Uint8Array[] };

const ends = new Map<number, Conn[]>();

const server = Bun.listen<Conn>({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  socket: {
    open(s) {
      s.data = { hello: new Uint8Array(0), out: new ByteWriter(s as Socket<unknown>), early: [] };
    },
    data(s, d) {
      const c = s.data;
      if (c.peer) return c.peer.out.write(d);
      if (c.hello.length < 5) {
        const all = Buffer.concat([c.hello, d]);
        c.hello = all.subarray(0, Math.min(5, all.length));
        if (all.length > 5) c.early.push(all.subarray(5));
        if (c.hello.length === 5) {
          const pair = new DataView(c.hello.buffer, c.hello.byteOffset, 5).getUint32(1);
          const side = c.hello[0]!;
          const both = ends.get(pair) ?? [];
          both[side] = c;
          ends.set(pair, both);
          const other = both[1 - side];
          if (other) {
            c.peer = other;
            other.peer = c;
            for (const b of other.early.splice(0)) c.out.write(b);
            for (const b of c.early.splice(0)) other.out.write(b);
          }
        }
        return;
      }
      c.early.push(Buffer.from(d));
    },
    drain(s) {
      s.data.out.drain();
    },
    close(s) {
      if (s.data.peer) s.data.peer.peer = undefined;
    },
  },
});

console.log(`listening on 127.0.0.1:${server.port}`);
