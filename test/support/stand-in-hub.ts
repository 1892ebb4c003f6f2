// Stand-ins for what surrounds a cluster hub (SPEC.md §11): the relay's hub core, session ends
// and transfers as the relay opens them, so a test or a bench can drive NatsHubs in one process
// without sessions. Shared by test/cluster/route-batch.test.ts and bench/route-cost.ts.

import { randomBytes } from "node:crypto";
import { silentLog } from "../../src/server/log.ts";
import type { HubCore } from "../../src/server/hub.ts";
import type { Transfer, TransferEnd } from "../../src/server/transfer.ts";
import { idHex, WINDOW_CHUNKS, type Message, type SignedSessionKey } from "../../src/protocol/messages.ts";

/** The relay's side of a hub, without a log: a finished transfer leaves both its ends. */
export const standInCore: HubCore = {
  endTransfer(t: Transfer) {
    t.from.outgoing.delete(t.key);
    t.to.incoming.delete(t.key);
  },
  now: () => Date.now(),
  log: silentLog,
};

/** A session key of the right sizes; hubs pass it on and never check its signature. */
export const fakeSessionKey = (): SignedSessionKey => ({
  identityPub: randomBytes(32),
  sessionPub: randomBytes(32),
  sessionKemPub: randomBytes(1184),
  issuedAt: Date.now(),
  sig: randomBytes(64),
});

/** A session's stand-in: it hands what the hub posts to it to onPost. */
export class StandInEnd implements TransferEnd {
  readonly authed = true;
  readonly pausable = true;
  readonly outgoing = new Map<string, Transfer>();
  readonly incoming = new Map<string, Transfer>();
  constructor(
    readonly user: string,
    private readonly onPost: (m: Message) => void,
    readonly sessionKey: SignedSessionKey = fakeSessionKey(),
    readonly address = "stand-in",
  ) {}
  post(m: Message): boolean {
    this.onPost(m);
    return true;
  }
  fail(): void {}
  holdBack(): boolean {
    return false;
  }
  drained(): void {}
  gone(): void {}
}

/** What the relay does for a SEND before it posts the DELIVER: a transfer known at both ends. */
export function openTransfer(from: TransferEnd, to: TransferEnd, size: number, id: Uint8Array = new Uint8Array(randomBytes(16))): Transfer {
  const t: Transfer = { id, key: idHex(id), from, to, size, received: 0, nextSeq: 0, window: 0, limit: WINDOW_CHUNKS, extra: 0, done: false, last: Date.now() };
  from.outgoing.set(t.key, t);
  to.incoming.set(t.key, t);
  return t;
}
