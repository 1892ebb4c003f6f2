// Prekey signatures (SPEC.md §12.1): the `key` layout under labels of their own, so that a
// signed prekey, a one-time prekey and a session key never pass for one another.

import { describe, expect, test } from "bun:test";
import { LABEL_ONE_TIME_PREKEY, LABEL_SIGNED_PREKEY, prekeyMessage, signPrekey, verifyPrekey, type PrekeyKind } from "../../src/protocol/prekeys.ts";
import { signSessionKey } from "../../src/protocol/keys.ts";
import { ed25519PublicKey, ed25519Sign } from "../../src/protocol/primitives.ts";
import type { SignedSessionKey } from "../../src/protocol/messages.ts";
import { mlkemKeyGenNoble } from "../support/noble-pq.ts";
import { expectCode } from "./vectors.ts";

const seed = new Uint8Array(32).fill(7);
const identityPub = ed25519PublicKey(seed);
const pub = new Uint8Array(32).fill(9);
const kemPub = mlkemKeyGenNoble(new Uint8Array(64).fill(3)).encapsulationKey;
const issuedAt = 1_790_000_000_000;

function prekey(kind: PrekeyKind, user = "bob"): SignedSessionKey {
  return { identityPub, sessionPub: pub, sessionKemPub: kemPub, issuedAt, sig: signPrekey(kind, seed, user, pub, kemPub, issuedAt) };
}

describe("prekeys", () => {
  test("the labels are SPEC §12.1's and start the signed bytes; the rest is the session key's layout", () => {
    expect(LABEL_SIGNED_PREKEY).toBe("smsg/2 signed prekey");
    expect(LABEL_ONE_TIME_PREKEY).toBe("smsg/2 one-time prekey");
    const m = prekeyMessage("one-time", "bob", pub, kemPub, issuedAt);
    const label = new TextEncoder().encode("smsg/2 one-time prekey");
    expect(m.subarray(0, label.length)).toEqual(label);
    expect(Array.from(m.subarray(label.length, label.length + 5))).toEqual([0, 3, 98, 111, 98]);
    expect(m.length).toBe(label.length + 2 + 3 + 32 + 1184 + 8);
  });

  test("each kind verifies as itself, for its user, and as nothing else", () => {
    for (const kind of ["signed", "one-time"] as const) {
      verifyPrekey(kind, "bob", prekey(kind));
      expectCode(() => verifyPrekey(kind === "signed" ? "one-time" : "signed", "bob", prekey(kind)), "bad-signature");
      expectCode(() => verifyPrekey(kind, "bob2", prekey(kind)), "bad-signature");
      expectCode(() => verifyPrekey(kind, "bob", { ...prekey(kind), issuedAt: issuedAt + 1 }), "bad-signature");
      const otherKem = mlkemKeyGenNoble(new Uint8Array(64).fill(4)).encapsulationKey;
      expectCode(() => verifyPrekey(kind, "bob", { ...prekey(kind), sessionKemPub: otherKem }), "bad-signature");
      expectCode(() => verifyPrekey(kind, "bob", { ...prekey(kind), identityPub: ed25519PublicKey(new Uint8Array(32).fill(1)) }), "bad-signature");
    }
  });

  test("a session key's signature is no prekey's, and a forged signature is refused", () => {
    const session = { identityPub, sessionPub: pub, sessionKemPub: kemPub, issuedAt, sig: signSessionKey(seed, "bob", pub, kemPub, issuedAt) };
    expectCode(() => verifyPrekey("signed", "bob", session), "bad-signature");
    expectCode(() => verifyPrekey("one-time", "bob", session), "bad-signature");
    const forged = { ...prekey("signed"), sig: ed25519Sign(new Uint8Array(32).fill(8), prekeyMessage("signed", "bob", pub, kemPub, issuedAt)) };
    expectCode(() => verifyPrekey("signed", "bob", forged), "bad-signature");
    expectCode(() => verifyPrekey("signed", "bob", { ...prekey("signed"), sig: new Uint8Array(63) }), "malformed");
  });
});
