// Starting and stopping a relay (SPEC.md §2.1): listeners on the configured addresses,
// each accepted socket wrapped in a FramedSocket and a Session, and the sweep timer.

import type { Socket, TCPSocketListener } from "bun";
import { FramedSocket, type FramedHandlers } from "../net/framed-socket.ts";
import { Directory } from "./directory.ts";
import { LocalHub, type Hub } from "./hub.ts";
import type { TransferEnd } from "./transfer.ts";
import type { Log } from "./log.ts";
import { loadOrCreateRelayKey } from "./relay-key.ts";
import { DEFAULT_RELAY_OPTIONS, RelayCore, type RelayOptions } from "./relay-core.ts";
import { Session } from "./session.ts";
import { HandshakeGate } from "./handshake-gate.ts";
import { encodeRelayKey } from "../protocol/keys.ts";
import { formatHostPort } from "../net/host-port.ts";
import { connectNats, type ClusterSettings } from "./cluster/nats-connect.ts";
import { DirectoryReplica } from "./cluster/directory-replica.ts";
import { checkClusterKey } from "./cluster/cluster-key.ts";
import { NatsHub } from "./cluster/nats-hub.ts";
import { SharedLogins } from "./cluster/shared-logins.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { Mailbox } from "./mailbox.ts";
import { SqliteMailboxStore, type MailboxStore } from "./mailbox-store.ts";
import { ClusterMailboxStore } from "./cluster/mailbox-replica.ts";

export interface ListenAddress {
  host: string; // "::" listens dual-stack
  port: number;
}

export interface Relay {
  core: RelayCore;
  /** Bound addresses, with the real port when 0 was asked for. */
  addresses: ListenAddress[];
  relayKey: string; // printable
  /** Graceful: stop accepting, tell idle clients, let transfers finish for graceSeconds. */
  stop(graceSeconds?: number): Promise<void>;
}

type Conn = { session?: Session; framed?: FramedSocket };

/** A FramedSocket's handlers until its Session exists, within the same open() call. */
const UNBOUND: FramedHandlers = { onRecord: () => undefined, onClose: () => undefined };

export async function startRelay(args: {
  listen: ListenAddress[];
  dataDir: string;
  log: Log;
  options?: Partial<RelayOptions>;
  hub?: Hub<TransferEnd>;
  now?: () => number;
  /** Run as a node of a cluster on NATS (SPEC.md §11); without it, on its own. */
  cluster?: ClusterSettings;
}): Promise<Relay> {
  const relayKey = loadOrCreateRelayKey(args.dataDir);
  let directory: Directory;
  let hub = args.hub ?? new LocalHub<TransferEnd>();
  let nc: NatsConnection | undefined;
  let replica: DirectoryReplica | undefined;
  let logins: SharedLogins | undefined;
  if (args.cluster) {
    const node = args.cluster.node!;
    nc = await connectNats(args.cluster, `smsg-relay-${node}`);
    try {
      replica = await DirectoryReplica.open(nc, args.cluster.replicas, (e) => args.log.error("directory-replication", { err: e.message }));
      await checkClusterKey(replica.kv, relayKey.publicKey);
    } catch (e) {
      replica?.close();
      await nc.close();
      throw e;
    }
    directory = replica.directory;
    hub = new NatsHub(nc, node, args.log);
    logins = new SharedLogins(nc, node);
    args.log.info("cluster-join", { node, nats: nc.getServer() });
  } else {
    directory = Directory.open(args.dataDir);
  }
  const core = new RelayCore({
    opts: { ...DEFAULT_RELAY_OPTIONS, ...args.options },
    relayKey,
    directory,
    hub,
    log: args.log,
    now: args.now ?? Date.now,
    logins,
  });
  logins?.listen(core);
  // One node keeps waiting mail in its data dir; a cluster in a replicated bucket (SPEC.md
  // §12.6), since a node's disk is lost with the node.
  let mailStore: MailboxStore | undefined;
  if (core.opts.offlineMail && args.cluster) {
    try {
      mailStore = await ClusterMailboxStore.open(nc!, args.cluster.replicas, args.dataDir, (e) => args.log.error("mailbox-replication", { err: e.message }));
    } catch (e) {
      if (hub instanceof NatsHub) hub.stop();
      logins?.stop();
      replica?.close();
      await nc?.close();
      throw e;
    }
  } else if (core.opts.offlineMail) mailStore = new SqliteMailboxStore(args.dataDir);
  if (mailStore) {
    core.mailbox = new Mailbox({
      store: mailStore,
      opts: { quotaBytes: core.opts.mailboxQuotaBytes, retentionMs: core.opts.mailboxRetentionMs },
      log: args.log,
      now: core.now,
      find: (user) => {
        const e = hub.find(user);
        return e instanceof Session ? e : undefined;
      },
    });
    const mailbox = core.mailbox;
    if (mailStore instanceof ClusterMailboxStore) {
      mailStore.onArrival = (user) => mailbox.arrived(user);
      mailStore.onNotice = (n) => mailbox.noticeArrived(n);
    }
  }
  // Another node's (or ctrl's) change to the directory: its sessions are checked at once.
  let checking = false;
  replica?.onRemoteChange(() => {
    if (checking) return;
    checking = true;
    queueMicrotask(() => {
      checking = false;
      core.checkDirectory();
    });
  });

  const gate = new HandshakeGate({ perSecond: core.opts.handshakesPerSecond, burst: core.opts.handshakesBurst }, args.log, core.now);
  const handlers = {
    open(socket: Socket<Conn>) {
      const conn: Conn = {};
      socket.data = conn;
      // Before any byte is read: a refused connection costs no crypto (SPEC.md §3.3). Nothing
      // may be said before the handshake but the version reply (§2.3), so it is just closed.
      if (!gate.admit(socket.remoteAddress ?? "?")) {
        socket.end();
        return;
      }
      const framed = new FramedSocket(socket as Socket<unknown>, UNBOUND);
      conn.framed = framed;
      conn.session = new Session(core, framed, core.now());
      framed.handOver(conn.session); // at once: no event comes before open() returns
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
    if (hub instanceof NatsHub) hub.stop();
    logins?.stop();
    replica?.close();
    await nc?.close();
    if (!replica) directory.close();
    mailStore?.close();
    throw e;
  }
  const sweep = setInterval(() => core.sweep(), 1000);
  const addresses = listeners.map((l, i) => ({ host: args.listen[i]!.host, port: l.port }));
  const printable = encodeRelayKey(relayKey.publicKey);
  let stopping: Promise<void> | undefined;
  args.log.info("relay-start", {
    listen: addresses.map(formatHostPort).join(","),
    key: printable,
  });

  return {
    core,
    addresses,
    relayKey: printable,
    stop(graceSeconds = core.opts.shutdownGrace) {
      stopping ??= (async () => {
        // Stop accepting; sessions with transfers in flight finish them (SPEC.md §2.1).
        for (const l of listeners) l.stop(false);
        args.log.info("relay-stopping", { sessions: core.sessions.size, transfers: core.transfers, grace: graceSeconds });
        core.drain();
        const deadline = Date.now() + graceSeconds * 1000;
        while (core.sessions.size > 0 && Date.now() < deadline) await Bun.sleep(20);
        if (core.sessions.size > 0) {
          args.log.warn("shutdown-deadline", { sessions: core.sessions.size, transfers: core.transfers });
          for (const s of [...core.sessions]) s.fail("shutdown", "the relay is shutting down");
        }
        // Let the goodbyes flush, briefly: a peer that does not read is cut off anyway.
        const flushed = Date.now() + 2000;
        while (core.sessions.size > 0 && Date.now() < flushed) await Bun.sleep(10);
        for (const s of [...core.sessions]) s.sock.close("relay stopping");
        clearInterval(sweep);
        for (const l of listeners) l.stop(true);
        if (hub instanceof NatsHub) hub.stop();
        logins?.stop();
        if (replica) {
          await replica.flush().catch(() => {});
          replica.close();
          await nc!.drain().catch(() => {});
        } else directory.close();
        mailStore?.close();
        args.log.info("relay-stop");
      })();
      return stopping;
    },
  };
}
