// Plain TCP over a slow path (bench/lib/slow-path.ts): the baseline of the "attachment over
// a long path" row and of test/integration/long-path.test.ts. One connection writes `size`
// bytes as fast as the path takes them into a sink that counts; the rate is timed at the
// proxy exactly as an smsg transfer through the same path is (pathRate).

import type { Socket } from "bun";
import { startSlowPath, type SlowPath, type SlowPathOptions } from "./slow-path.ts";

/** Bytes the timing skips at the start: the first record, not the path, is timed by them. */
export const PATH_START_BYTES = 256 * 1024;

/**
 * The rate through path, bytes/s, of the `size` bytes that start when delivered.up is `base`:
 * timed from PATH_START_BYTES in to the last byte out of the proxy. Start it before the
 * transfer does.
 */
export async function pathRate(path: SlowPath, base: number, size: number): Promise<number> {
  const t0 = await path.reached(base + PATH_START_BYTES);
  const t1 = await path.reached(base + size);
  return (size - PATH_START_BYTES) / ((t1 - t0) / 1000);
}

/** size bytes of plain TCP through a fresh slow path with these options, bytes/s. */
export async function plainTcpRate(opts: Omit<SlowPathOptions, "target">, size: number): Promise<number> {
  let got = 0;
  const sink = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, d) {
        got += d.length;
      },
    },
  });
  const path = startSlowPath({ ...opts, target: { host: "127.0.0.1", port: sink.port } });
  try {
    const rate = pathRate(path, 0, size);
    let drained: (() => void) | undefined;
    const sock = (await Bun.connect({ hostname: "127.0.0.1", port: path.port, socket: { data() {}, drain: () => drained?.() } })) as Socket<unknown>;
    const block = new Uint8Array(256 * 1024);
    for (let sent = 0; sent < size; ) {
      const b = block.subarray(0, Math.min(block.length, size - sent));
      let off = 0;
      while (off < b.length) {
        off += Math.max(0, sock.write(b.subarray(off)));
        if (off < b.length) await new Promise<void>((r) => (drained = r));
      }
      sent += b.length;
    }
    const r = await rate;
    sock.end();
    if (got > size) throw new Error("the sink got more than was sent");
    return r;
  } finally {
    path.stop();
    sink.stop(true);
  }
}
