// Starting and stopping a relay (SPEC.md §2.1): listeners on the configured addresses,
// each accepted socket wrapped in a FramedSocket and a Session, and the sweep timer.

import type { Socket, TCPSocketListener } from "bun";
import { FramedSocket } from "../net/framed-socket.ts";
import { Directory } from "./directory.ts";
import { LocalHub, type Hub } from "./hub.ts";
import type { Log } from "./log.ts";
import { loadOrCreateRelayKey } from "./relay-key.ts";
import { DEFAULT_RELAY_OPTIONS, RelayCore, type RelayOptions } from "./relay-core.ts";
import { Session } from "./session.ts";
import { encodeRelayKey } from "../protocol/keys.ts";

export interface ListenAddress {
  host: string; // "::" listens dual-stack
  port: number;
}

export interface Relay {
  core: RelayCore;
  /** Bound addresses, with the real port when 0 was asked for. */
  addresses: ListenAddress[];
  relayKey: string; // printable
  stop(): Promise<void>;
}

type Conn = { session?: Session; framed?: FramedSocket };

export async function startRelay(args: {
  listen: ListenAddress[];
  dataDir: string;
  log: Log;
  options?: Partial<RelayOptions>;
  hub?: Hub;
  now?: () => number;
}): Promise<Relay> {
  const relayKey = loadOrCreateRelayKey(args.dataDir);
  const directory = Directory.open(args.dataDir);
  const core = new RelayCore({
    opts: { ...DEFAULT_RELAY_OPTIONS, ...args.options },
    relayKey,
    directory,
    hub: args.hub ?? new LocalHub(),
    log: args.log,
    now: args.now ?? Date.now,
  });

  const handlers = {
    open(socket: Socket<Conn>) {
      const conn: Conn = {};
      socket.data = conn;
      const framed = new FramedSocket(socket as Socket<unknown>, {
        onRecord: (r) => conn.session?.onRecord(r),
        onClose: (reason) => conn.session?.onClose(reason),
      });
      conn.framed = framed;
      conn.session = new Session(core, framed, core.now());
      core.opened(conn.session);
    },
    data(socket: Socket<Conn>, data: Buffer) {
      socket.data.framed?.data(data);
    },
    drain(socket: Socket<Conn>) {
      socket.data.framed?.drain();
    },
    close(socket: Socket<Conn>) {
      socket.data.framed?.socketClosed();
    },
    error(socket: Socket<Conn>, err: Error) {
      socket.data.framed?.socketClosed(err.message);
    },
  };

  const listeners: TCPSocketListener<Conn>[] = [];
  try {
    for (const a of args.listen) {
      listeners.push(Bun.listen<Conn>({ hostname: a.host, port: a.port, socket: handlers }));
    }
  } catch (e) {
    for (const l of listeners) l.stop(true);
    directory.close();
    throw e;
  }
  const sweep = setInterval(() => core.sweep(), 1000);
  const addresses = listeners.map((l, i) => ({ host: args.listen[i]!.host, port: l.port }));
  const printable = encodeRelayKey(relayKey.publicKey);
  args.log.info("relay-start", {
    listen: addresses.map((a) => `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`).join(","),
    key: printable,
  });

  return {
    core,
    addresses,
    relayKey: printable,
    async stop() {
      clearInterval(sweep);
      for (const l of listeners) l.stop(true);
      for (const s of [...core.sessions]) s.fail("shutdown", "the relay is shutting down"); // clients retry at once
      // Let the goodbyes flush, briefly: a peer that does not read is cut off anyway.
      const deadline = Date.now() + 2000;
      while (core.sessions.size > 0 && Date.now() < deadline) await Bun.sleep(10);
      for (const s of [...core.sessions]) s.sock.close("relay stopping");
      directory.close();
      args.log.info("relay-stop");
    },
  };
}
