// The client's prekeys (SPEC.md §12.1): a signed prekey rotated weekly and a generation of
// one-time prekeys, published when the relay's PREKEY_STATE shows the stock low or a signed
// prekey other than ours; secrets in the encrypted store, retired ones deleted once no mail
// sealed to them can still wait at the relay.

import { MAX_PREKEYS_PER_MESSAGE, type MessageOf, type SignedSessionKey } from "../protocol/messages.ts";
import { signPrekey, type PrekeyKind } from "../protocol/prekeys.ts";
import { mlkemKeyGen } from "../protocol/mlkem.ts";
import { x25519Generate } from "../protocol/primitives.ts";
import { bytesEqual } from "../protocol/bytes.ts";
import type { Link } from "./relay-client.ts";
import type { PrekeyRow, Store } from "./store.ts";

export const ONE_TIME_PREKEYS = 100;
export const ONE_TIME_LOW = 20;
export const SIGNED_PREKEY_LIFETIME_MS = 7 * 86400_000;

export class Prekeys {
  #store: Store;
  #now: () => number;
  #log: (line: string) => void;
  #busy = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(deps: { store: Store; now: () => number; log: (line: string) => void }) {
    this.#store = deps.store;
    this.#now = deps.now;
    this.#log = deps.log;
  }

  /** The relay's PREKEY_STATE: purge, rotate, top up and publish as needed. */
  async onState(link: Link, m: MessageOf<"prekeyState">): Promise<void> {
    if (this.#busy) return; // a publication under way answers with a new state
    this.#busy = true;
    try {
      const now = this.#now();
      const purged = this.#store.purgePrekeys(now - m.retention * 1000);
      if (purged > 0) this.#log(`deleted ${purged} retired prekey secrets`);
      let current = this.#store.currentPrekeys();
      let signed = current.find((k) => k.kind === "signed");
      let signedNew = false;
      if (!signed || now - signed.issued >= SIGNED_PREKEY_LIFETIME_MS) {
        this.#store.retirePrekeys("signed", now);
        await this.#make(link, "signed", 1, now);
        signedNew = true;
      }
      const relayLost = !signed || !bytesEqual(m.signedPub, signed.pub);
      const oneTimeLow = m.oneTime < ONE_TIME_LOW || current.every((k) => k.kind !== "one-time");
      if (oneTimeLow || relayLost) {
        this.#store.retirePrekeys("one-time", now);
        await this.#make(link, "one-time", ONE_TIME_PREKEYS, now);
      }
      if (!signedNew && !oneTimeLow && !relayLost) return;
      current = this.#store.currentPrekeys();
      signed = current.find((k) => k.kind === "signed")!;
      const oneTime = oneTimeLow || relayLost ? current.filter((k) => k.kind === "one-time") : [];
      const ident = link.id.identity.publicKey;
      const s = announce(ident, signed);
      if (oneTime.length === 0) link.post({ t: "publishPrekeys", signed: s, replace: false, oneTime: [] });
      for (let i = 0; i < oneTime.length; i += MAX_PREKEYS_PER_MESSAGE) {
        link.post({ t: "publishPrekeys", signed: s, replace: i === 0, oneTime: oneTime.slice(i, i + MAX_PREKEYS_PER_MESSAGE).map((k) => announce(ident, k)) });
      }
    } catch (e) {
      this.#log(`could not publish prekeys: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.#busy = false;
      this.#rotateLater(link, m);
    }
  }

  /** A connection that lasts past the signed prekey's week rotates it then, not at the next login. */
  #rotateLater(link: Link, m: MessageOf<"prekeyState">): void {
    clearTimeout(this.#timer);
    const signed = this.#store.currentPrekeys().find((k) => k.kind === "signed");
    if (!signed || link.closed) return;
    const due = Math.max(1000, signed.issued + SIGNED_PREKEY_LIFETIME_MS - this.#now());
    this.#timer = setTimeout(() => {
      if (!link.closed) void this.onState(link, m);
    }, Math.min(due, 2 ** 31 - 1));
    this.#timer.unref?.();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  async #make(link: Link, kind: PrekeyKind, n: number, now: number): Promise<void> {
    const keys = [];
    for (let i = 0; i < n; i++) {
      const x = x25519Generate();
      const kem = await mlkemKeyGen();
      const sig = signPrekey(kind, link.id.identity.seed, link.id.user, x.publicKey, kem.encapsulationKey, now);
      keys.push({ kind, pub: x.publicKey, kemPub: kem.encapsulationKey, issued: now, sig, secret: x.secretKey, kemSeed: kem.seed });
    }
    this.#store.addPrekeys(keys);
  }
}

function announce(identityPub: Uint8Array, k: PrekeyRow): SignedSessionKey {
  return { identityPub, sessionPub: k.pub, sessionKemPub: k.kemPub, issuedAt: k.issued, sig: k.sig };
}
