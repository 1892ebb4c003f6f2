// Another node of the cluster, and a user on it, as this node sees them (SPEC.md §11.4,
// §11.5): the end of a transfer that crosses nodes, and the session key its node announced,
// as JSON carries it (§11.2) and as a DELIVER_REF from that node is completed with it.

import type { Writer } from "../../protocol/codec.ts";
import type { ErrorCode, Message, SignedSessionKey } from "../../protocol/messages.ts";
import type { Transfer, TransferEnd } from "../transfer.ts";
import type { PresenceEntry, WireKey } from "./presence-snapshot.ts";

export const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
export const toWire = (k: SignedSessionKey): WireKey => ({
  identityPub: b64(k.identityPub),
  sessionPub: b64(k.sessionPub),
  sessionKemPub: b64(k.sessionKemPub),
  issuedAt: k.issuedAt,
  sig: b64(k.sig),
});
export const fromWire = (k: WireKey): SignedSessionKey => ({
  identityPub: unb64(k.identityPub),
  sessionPub: unb64(k.sessionPub),
  sessionKemPub: unb64(k.sessionKemPub),
  issuedAt: k.issuedAt,
  sig: unb64(k.sig),
});

/** A user on another node: what this node posts to them goes there over NATS. */
export class RemoteEnd implements TransferEnd {
  readonly authed = true;
  readonly outgoing = new Map<string, Transfer>();
  readonly incoming = new Map<string, Transfer>();
  sessionKey: SignedSessionKey | undefined;
  /** sessionKey's §4 encoding, made once: what a DELIVER_REF from its node is completed with. */
  keyBytes: Uint8Array | undefined;
  at = 0;
  present = false;

  constructor(
    readonly node: string,
    readonly user: string,
    private readonly send: (node: string, user: string, m: Message, encoded?: Writer) => void,
  ) {}

  readonly pausable = false;

  get address(): string {
    return `node:${this.node}`;
  }

  post(m: Message, encoded?: Writer): boolean {
    this.send(this.node, this.user, m, encoded);
    return true;
  }

  // Its connection is the other node's to close; flow control across nodes is the window's.
  fail(_code: ErrorCode, _reason: string): void {}
  holdBack(_sender: TransferEnd): boolean {
    return false;
  }
  drained(_end: TransferEnd): void {}
  gone(_sender: TransferEnd): void {}
}

/** A presence change of another node, as `smsg.presence` carries it (SPEC.md §11.2). */
export interface PresenceChange extends Partial<PresenceEntry> {
  node: string;
  epoch: string;
  seq: number;
  user: string;
  online: boolean;
}
export interface Heartbeat {
  node: string;
  epoch: string;
  seq: number;
}
/** Another node as this one sees it. */
export interface NodeView {
  name: string;
  epoch: string;
  seq: number; // last presence change applied
  heard: number;
  syncing: boolean; // a snapshot asked for; changes wait in `queued`
  queued: PresenceChange[];
  users: Map<string, RemoteEnd>;
}
