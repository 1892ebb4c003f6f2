// Mail that waits at a hostile relay (SECURITY.md, "Mail that waits at the relay"): real
// clients, an in-process relay that keeps their mail and then withholds it, forges notices,
// replays it, hands a one-time prekey out twice or never, or serves forged bundles. The relay
// makes alice see bob as offline (KEY offline) while bob's client is in fact connected, so it
// decides when what it holds reaches him.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { waitFor } from "../support/harness.ts";
import { HostileWorld, hexOf } from "../support/hostile-world.ts";
import { makeImpostor } from "../support/impostor.ts";
import { signPrekey } from "../../src/protocol/prekeys.ts";
import { mlkemKeyGen } from "../../src/protocol/mlkem.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";
import type { Held } from "../support/hostile-relay.ts";

const w = new HostileWorld();
const { relay, send, flag, waitFlag, outcome, delivery, copies, received, control } = w;

/** alice's delivery back in the queue with an error containing `why` (it was waiting). */
function requeued(id: string, why: string) {
  return waitFor(`${id} queued again (${why})`, async () => {
    const d = await delivery("alice", id);
    return d.state === "queued" && d.error?.includes(why) ? d : undefined;
  }, 30_000, 100);
}

beforeAll(async () => {
  relay.mailbox = true;
  await w.start(["alice", "bob"]);
  await waitFor("bob's prekeys at the relay", () => (relay.prekeys.get("bob")?.stock.length ?? 0) >= 100 || undefined, 30_000, 50);
  await control("alice", "bob"); // alice pins bob's identity on the live path
}, 120_000);
afterAll(() => w.cleanup());
beforeEach(() => {
  // bob looks offline to alice: her mail goes through the mailbox.
  relay.hooks = { onGetKey: ({ user, answer }) => (user === "bob" ? { status: "offline" } : answer) };
});

/** alice sends to "offline" bob; the relay answers HELD: her row shows W. */
async function held(subject: string): Promise<{ id: string; h: Held }> {
  const id = await send("alice", "bob", subject);
  await waitFlag("alice", id, "W");
  return { id, h: relay.held.find((x) => x.hex === id && x.complete)! };
}

describe("a hostile relay and mail that waits", () => {
  test("withheld: bob gets nothing and alice stays W; a forged notice (zero, random, another's receipt) never makes it S", async () => {
    const { id: genuineId, h: genuine } = await held("delivered for its receipt");
    relay.deliverWaiting("bob", [genuine]);
    await waitFlag("alice", genuineId, "S");
    const realReceipt = relay.acks.find((a) => a.from === "bob" && hexOf(a.m.id) === genuineId)!.m.receipt;

    for (const receipt of [new Uint8Array(32), new Uint8Array(randomBytes(32)), realReceipt]) {
      const { id, h } = await held("withheld");
      expect(await copies("bob", id)).toEqual([]);
      relay.notice("alice", { t: "notice", id: h.id, to: "bob", kind: "receipt", status: "stored", receipt });
      await requeued(id, "without proof");
      expect(await flag("alice", id)).not.toBe("S");
      expect(await copies("bob", id)).toEqual([]);
    }
  }, 120_000);

  test("replayed: stored once; a replay sealed to a used one-time prekey cannot even be opened", async () => {
    const { id, h } = await held("replayed");
    relay.deliverWaiting("bob", [h]);
    await waitFlag("alice", id, "S");
    relay.deliverWaiting("bob", [h]);
    const answers = await relay.answers("bob", id, 2);
    expect(answers).toEqual(["stored", "rejected"]);
    expect((await copies("bob", id)).length).toBe(1);
  }, 60_000);

  test("a one-time prekey never handed out: sealed to the signed prekey, opened, stored once; its secret stays (forward secrecy = the signed prekey's lifetime)", async () => {
    let signedPub: Uint8Array | undefined;
    relay.hooks.onBundle = ({ answer }) => {
      signedPub = answer.signed!.sessionPub;
      return { signed: answer.signed };
    };
    const { id, h } = await held("to the signed prekey");
    expect(h.post.recipientSessionPub).toEqual(signedPub!);
    relay.deliverWaiting("bob", [h]);
    await waitFlag("alice", id, "S");
    relay.deliverWaiting("bob", [h]);
    expect(await relay.answers("bob", id, 2)).toEqual(["stored", "duplicate"]);
    expect((await copies("bob", id)).length).toBe(1);
    const db = new Database(join(w.dir("bob"), "client.db"), { readonly: true });
    try {
      const row = db.query<{ kind: string }, [Uint8Array]>("SELECT kind FROM prekeys WHERE pub = ?").get(signedPub!);
      expect(row?.kind).toBe("signed");
    } finally {
      db.close();
    }
  }, 60_000);

  test("a one-time prekey handed out twice: the first message is stored, the second refused (its secret is gone) and stays with alice", async () => {
    let first: Parameters<NonNullable<typeof relay.hooks.onBundle>>[0]["answer"]["oneTime"];
    relay.hooks.onBundle = ({ answer }) => {
      first ??= answer.oneTime;
      return { signed: answer.signed, oneTime: first };
    };
    const a = await held("first to this one-time key");
    const b = await held("second to the same key");
    expect(b.h.post.recipientSessionPub).toEqual(a.h.post.recipientSessionPub);
    relay.deliverWaiting("bob", [a.h]);
    await waitFlag("alice", a.id, "S");
    relay.deliverWaiting("bob", [b.h]);
    expect(await relay.answers("bob", b.id)).toEqual(["rejected"]);
    await requeued(b.id, "did not store it (rejected)");
    expect(await copies("bob", b.id)).toEqual([]);
    await received("bob", a.id);
  }, 60_000);

  test("a forged bundle is refused: a bad signature keeps it queued; prekeys of another identity hold it (H)", async () => {
    relay.hooks.onBundle = ({ answer }) => {
      const sig = Uint8Array.from(answer.signed!.sig);
      sig[0]! ^= 1;
      return { signed: { ...answer.signed!, sig } };
    };
    const bad = await send("alice", "bob", "badly signed bundle");
    const d = await outcome("alice", bad);
    expect(d.state).toBe("queued");
    expect(d.error).toContain("badly signed prekeys");
    expect(relay.held.some((x) => x.hex === bad)).toBe(false);

    const mallory = makeImpostor("bob");
    const x = x25519Generate();
    const kem = await mlkemKeyGen();
    const now = Date.now();
    const forged = { identityPub: mallory.identity.publicKey, sessionPub: x.publicKey, sessionKemPub: kem.encapsulationKey, issuedAt: now, sig: signPrekey("signed", mallory.identity.seed, "bob", x.publicKey, kem.encapsulationKey, now) };
    relay.hooks.onBundle = () => ({ signed: forged });
    const other = await send("alice", "bob", "bundle of another identity");
    await waitFlag("alice", other, "H");
    expect(relay.held.some((h) => h.hex === other)).toBe(false);
  }, 60_000);

  test("an old genuine bundle: a one-time prekey of a generation bob has replaced and purged cannot be opened; refused, back in alice's queue", async () => {
    const p = relay.prekeys.get("bob")!;
    const old = p.stock[0]!; // never handed out: bob held its secret until now
    const secretsOf = (pub: Uint8Array): number => {
      const db = new Database(join(w.dir("bob"), "client.db"), { readonly: true });
      try {
        return db.query<{ c: number }, [Uint8Array]>("SELECT count(*) AS c FROM prekeys WHERE pub = ?").get(pub)!.c;
      } finally {
        db.close();
      }
    };
    expect(secretsOf(old.sessionPub)).toBe(1);
    // The relay says the stock is empty and retention 0: bob makes a new generation and, at
    // the next state, deletes the retired one's secrets.
    relay.retention = 0;
    try {
      relay.post("bob", { t: "prekeyState", oneTime: 0, signedPub: p.signed[p.signed.length - 1]!.sessionPub, retention: 0 });
      await waitFor("bob to purge the old generation", () => secretsOf(old.sessionPub) === 0 || undefined, 30_000, 100);
    } finally {
      relay.retention = 30 * 86400;
    }
    relay.hooks.onBundle = ({ answer }) => ({ signed: answer.signed, oneTime: old });
    const { id, h } = await held("sealed to a purged prekey");
    expect(h.post.recipientSessionPub).toEqual(old.sessionPub);
    relay.deliverWaiting("bob", [h]);
    expect(await relay.answers("bob", id)).toEqual(["rejected"]);
    await requeued(id, "did not store it (rejected)");
    expect(await copies("bob", id)).toEqual([]);
  }, 90_000);
});
