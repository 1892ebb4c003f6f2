// A TCP proxy that records every byte in both directions: the test's packet capture of
// what crosses the wire between a client and the relay.

import type { Socket, TCPSocketListener } from "bun";

class Pipe {
  #queue: Uint8Array[] = [];
  constructor(readonly socket: Socket<unknown>) {}
  write(b: Uint8Array): void {
    if (this.#queue.length) {
      this.#queue.push(b);
      return;
    }
    const n = this.socket.write(b);
    if (n < b.length) this.#queue.push(b.subarray(Math.max(0, n)));
  }
  drain(): void {
    while (this.#queue.length) {
      const b = this.#queue[0]!;
      const n = this.socket.write(b);
      if (n < b.length) {
        this.#queue[0] = b.subarray(Math.max(0, n));
        return;
      }
      this.#queue.shift();
    }
  }
}

type Side = { peer?: Pipe; self?: Pipe; pending: Uint8Array[] };

export class TapProxy {
  readonly captured: Uint8Array[] = [];
  #listener: TCPSocketListener<Side>;

  constructor(targetHost: string, targetPort: number) {
    const captured = this.captured;
    this.#listener = Bun.listen<Side>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          const side: Side = { pending: [] };
          client.data = side;
          side.self = new Pipe(client as Socket<unknown>);
          void Bun.connect<{ back: Pipe }>({
            hostname: targetHost,
            port: targetPort,
            socket: {
              open(up) {
                const upPipe = new Pipe(up as Socket<unknown>);
                up.data = { back: side.self! };
                side.peer = upPipe;
                for (const b of side.pending) upPipe.write(b);
                side.pending = [];
              },
              data(up, d) {
                captured.push(new Uint8Array(d));
                up.data.back.write(new Uint8Array(d));
              },
              drain(up) {
                side.peer?.drain();
                void up;
              },
              close() {
                client.end();
              },
            },
          }).catch(() => client.end());
        },
        data(client, d) {
          const b = new Uint8Array(d);
          captured.push(b);
          if (client.data.peer) client.data.peer.write(b);
          else client.data.pending.push(b);
        },
        drain(client) {
          client.data.self?.drain();
        },
        close(client) {
          client.data.peer?.socket.end();
        },
      },
    });
  }

  get port(): number {
    return this.#listener.port;
  }

  bytes(): Buffer {
    return Buffer.concat(this.captured);
  }

  stop(): void {
    this.#listener.stop(true);
  }
}
