// The product promise against a hostile relay (SECURITY.md section 5): real clients, pinned
// to the key of an in-process relay that drops, forges, re-routes, replays and swaps keys.
// Each test asserts what sender and recipient see through the CLI; every "nothing arrived"
// comes after a sign that the path is live (a control message, or the recipient's own ACK).

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ok, outbox, inbox, status, waitConnected, waitFor, type Summary } from "../support/harness.ts";
import { ApiClient } from "../../src/client/api-client.ts";
import type { ContactView } from "../../src/views/contact-view.ts";
import type { Transfer } from "../support/hostile-relay.ts";
import { HostileWorld, Victims, bytesOf, hexOf } from "../support/hostile-world.ts";
import { makeImpostor, messagePlaintext } from "../support/impostor.ts";
import { safetyNumber } from "../../src/protocol/keys.ts";
import { signIdentityChange } from "../../src/protocol/identity-change.ts";
import type { AckStatus, Message, MessageOf } from "../../src/protocol/messages.ts";
import { STREAM_CHUNK } from "../../src/protocol/stream.ts";
import { mlkemEncaps, mlkemKeyGen } from "../../src/protocol/mlkem.ts";

const w = new HostileWorld();
const { relay, send, flag, waitFlag, delivery, outcome, copies, received, control, contacts, identityOf } = w;
const s = w.scratch;

beforeAll(() => w.start(["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank"], ["mallory"]), 120_000);
afterAll(() => w.cleanup());
beforeEach(() => {
  relay.hooks = {};
  relay.kem = "honest";
});

describe("a hostile relay cannot fake a delivery", () => {
  test("a dropped message with a forged ACK (zero, random or replayed receipt) stays Q; the recipient has nothing", async () => {
    const first = await control("alice", "bob");
    const genuine = relay.acks.find((a) => a.from === "bob" && hexOf(a.m.id) === first && a.m.status === "stored")!.m.receipt;
    const variants: { status: AckStatus; receipt: Uint8Array }[] = [
      { status: "stored", receipt: new Uint8Array(32) },
      { status: "stored", receipt: new Uint8Array(randomBytes(32)) },
      { status: "duplicate", receipt: genuine }, // a real receipt, for another message
    ];
    const v = new Victims<(typeof variants)[number]>(relay);
    relay.hooks = {
      onSend: ({ transfer }) => {
        const forged = v.take(transfer);
        if (!forged) return "pass";
        relay.forgeAck(transfer.from, transfer.id, forged.status, forged.receipt);
        return "drop";
      },
    };
    const ids: string[] = [];
    for (const variant of variants) {
      v.arm("alice", "bob", variant);
      const id = await send("alice", "bob", `forged ${variant.status}`);
      expect(await v.captured()).toBe(id);
      const d = await outcome("alice", id);
      expect(d.state).toBe("queued");
      expect(d.error).toContain("without proof");
      ids.push(id);
    }
    await control("alice", "bob"); // the path is live after the attacks
    const out = await outbox(w.dir("alice"));
    const bobs = (await inbox(w.dir("bob"))).map((m) => m.id);
    for (const id of ids) {
      expect(out.find((m) => m.id === id)?.flags).toBe("Q");
      expect(bobs).not.toContain(id);
      expect(relay.acksFrom("bob", id)).toEqual([]); // bob was never asked
    }
  }, 90_000);

  test("a silently dropped message stays Q with nothing at the recipient; once the relay behaves it arrives exactly once", async () => {
    const v = new Victims<true>(relay);
    let dropping = true;
    relay.hooks = { onSend: ({ transfer }) => (v.take(transfer) && dropping ? "drop" : "pass") };
    v.arm("alice", "bob", true);
    const id = await send("alice", "bob", "dropped in silence");
    expect(await v.captured()).toBe(id);
    await waitFor("the relay to swallow the whole message", () => relay.transfersOf(id)[0]?.chunks.at(-1)?.last, 20_000, 20);
    await control("alice", "bob");
    expect(await flag("alice", id)).toBe("Q");
    expect(await copies("bob", id)).toEqual([]);

    // It behaves again, and ends the transfer as the honest relay ends an idle one.
    dropping = false;
    relay.failTransfer(id);
    await waitFlag("alice", id, "S");
    expect(await copies("bob", id)).toHaveLength(1);
    expect(relay.acksFrom("bob", id)).toEqual(["stored"]);
  }, 90_000);

  test("a dropped ACK leaves the message Q though stored; the retry is answered duplicate with a receipt: S, one copy", async () => {
    const v = new Victims<true>(relay);
    let droppingAcks = true;
    relay.hooks = {
      onSend: ({ transfer }) => (v.take(transfer), "pass"),
      onAck: ({ transfer, m }) => (v.tags.has(transfer.hex) && droppingAcks ? null : m),
    };
    v.arm("alice", "bob", true);
    const id = await send("alice", "bob", "its ACK is lost");
    expect(await v.captured()).toBe(id);
    expect(await relay.answers("bob", id)).toEqual(["stored"]);
    await received("bob", id);
    expect(await flag("alice", id)).toBe("Q");

    droppingAcks = false;
    relay.failTransfer(id);
    await waitFlag("alice", id, "S");
    expect(relay.acksFrom("bob", id)).toEqual(["stored", "duplicate"]);
    expect(await copies("bob", id)).toHaveLength(1);
  }, 90_000);

  test("bob's genuine receipt, replayed as carol's for the same message, does not mark carol's delivery done", async () => {
    await control("alice", "carol");
    let carolOffline = true; // so the message's id is known before its SEND to carol
    let target: string | undefined;
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => (carolOffline && asker === "alice" && user === "carol" ? { status: "offline" } : answer),
      onSend: ({ transfer }) => {
        if (transfer.hex !== target || transfer.to !== "carol") return "pass";
        const bobs = relay.acks.find((a) => a.from === "bob" && hexOf(a.m.id) === target && a.m.status === "stored")!;
        relay.forgeAck("alice", transfer.id, "stored", bobs.m.receipt);
        return "drop";
      },
    };
    const out = await ok(["send", "--data", w.dir("alice"), "--to", "bob,carol", "--subject", "to two", "--body", "one id, two receipts"]);
    expect(out).toContain("offline: carol");
    const id = (target = out.match(/[0-9a-f]{32}/)![0]);
    expect(await relay.answers("bob", id)).toEqual(["stored"]);
    // The outbox heard "offline" for carol too before she comes online: were her presence to
    // arrive while that GET_KEY was still in flight, the outbox would wait for her for good.
    expect(await outcome("alice", id, "carol")).toMatchObject({ state: "queued", error: "carol is offline" });
    carolOffline = false;
    relay.post("alice", { t: "presence", user: "carol", online: true });
    const d = await outcome("alice", id, "carol", "is offline");
    expect(d).toMatchObject({ state: "queued" });
    expect(d.error).toContain("without proof");
    expect((await delivery("alice", id, "bob")).state).toBe("delivered");
    expect(await flag("alice", id)).toBe("Q");
    expect(await copies("carol", id)).toEqual([]);
    expect(relay.acksFrom("carol", id)).toEqual([]);
  }, 90_000);
});

describe("a hostile relay and identity keys", () => {
  test("after pinning, a swapped key holds the message (H) and contacts show the change; a forged sender is refused", async () => {
    await control("alice", "bob");
    const pinned = (await contacts("alice")).bob!;
    expect(pinned).toEqual({ identity: hexOf(identityOf("bob")), changed: false });

    // bob's key signed by an identity the relay made, then by mallory's.
    let swap: ReturnType<typeof makeImpostor> | undefined;
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => (swap && asker === "alice" && user === "bob" ? { status: "online", key: swap.key } : answer),
    };
    const held: string[] = [];
    for (const impostor of [relay.impostor("bob"), makeImpostor("bob", w.keysOf("mallory").identity.seed)]) {
      swap = impostor;
      const id = await send("alice", "bob", "to a swapped key");
      const d = await outcome("alice", id);
      expect(d.state).toBe("held");
      expect(await flag("alice", id)).toBe("H");
      expect(d.error).toContain("identity key changed");
      expect((await contacts("alice")).bob).toEqual({ identity: pinned.identity, changed: true });
      expect(relay.transfersOf(id)).toEqual([]); // never sealed to the swapped key
      held.push(id);
    }
    expect(await ok(["contacts", "--data", w.dir("alice")])).toMatch(/^bob\tIDENTITY CHANGED to [0-9a-f]{64}\tnew safety number (\d{5} ){11}\d{5}$/m);

    // The other way round: a message the relay seals as "alice" for bob, who pinned the real alice.
    const forged = randomBytes(16).toString("hex");
    const header = { v: 1, id: forged, from: "alice", to: ["bob"], date: Date.now(), subject: "forged by the relay", body: "pay mallory", attachments: [] };
    await relay.forge({ as: relay.impostor("alice"), to: "bob", id: bytesOf(forged), plaintext: messagePlaintext(header) });
    expect(await relay.answers("bob", forged)).toEqual(["identity-changed"]);
    expect((await contacts("bob")).alice).toEqual({ identity: hexOf(identityOf("alice")), changed: true });

    swap = undefined;
    await control("alice", "bob"); // the real keys still work
    expect(await copies("bob", forged)).toEqual([]);
    for (const id of held) {
      expect(await flag("alice", id)).toBe("H");
      expect(await copies("bob", id)).toEqual([]);
    }
  }, 90_000);

  test("on first contact TOFU accepts the relay's keys (known limitation): it reads the message, the safety numbers differ", async () => {
    expect((await contacts("carol")).dave).toBeUndefined();
    expect((await contacts("dave")).carol).toBeUndefined();
    const fakeDave = relay.impostor("dave");
    const fakeCarol = relay.impostor("carol");
    let mitm = true;
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => (mitm && asker === "carol" && user === "dave" ? { status: "online", key: fakeDave.key } : answer),
      // It reads what carol sealed to "dave", seals it again as "carol" to the real dave, and
      // answers carol with the receipt it can compute as the end of her HPKE context.
      onIntercept: ({ transfer, interception }) => {
        void relay
          .forge({ as: fakeCarol, to: "dave", id: transfer.id, plaintext: interception.plaintext! })
          .then(() => relay.forgeAck("carol", transfer.id, "stored", interception.receipt));
      },
    };
    const subject = `first contact ${randomBytes(4).toString("hex")}`;
    const id = await send("carol", "dave", subject);
    expect(await relay.answers("dave", id)).toEqual(["stored"]);
    await waitFlag("carol", id, "S");
    const got = await received("dave", id);
    expect(got).toMatchObject({ from: "carol", subject });
    const ic = relay.transfersOf(id)[0]!.interception!;
    expect(ic.header).toMatchObject({ from: "carol", to: ["dave"], subject, body: `${subject} body` });

    // Nothing looks wrong to either of them, except the keys: compare them out of band.
    const carolPin = (await contacts("carol")).dave!;
    const davePin = (await contacts("dave")).carol!;
    expect(carolPin).toEqual({ identity: hexOf(fakeDave.identity.publicKey), changed: false });
    expect(davePin).toEqual({ identity: hexOf(fakeCarol.identity.publicKey), changed: false });
    const honest = safetyNumber("carol", identityOf("carol"), "dave", identityOf("dave"));
    const carolSees = safetyNumber("carol", identityOf("carol"), "dave", bytesOf(carolPin.identity));
    const daveSees = safetyNumber("carol", bytesOf(davePin.identity), "dave", identityOf("dave"));
    expect(carolSees).not.toBe(daveSees);
    expect([carolSees, daveSees]).not.toContain(honest);
    // Where the relay did not interfere at first contact, both ends compute the same number.
    await control("alice", "bob");
    const aliceSees = safetyNumber("alice", identityOf("alice"), "bob", bytesOf((await contacts("alice")).bob!.identity));
    const bobSees = safetyNumber("alice", bytesOf((await contacts("bob")).alice!.identity), "bob", identityOf("bob"));
    expect(aliceSees).toBe(bobSees);

    // Once it stops, the change shows: carol's next message to the real dave is held.
    mitm = false;
    const next = await send("carol", "dave", "after the relay stopped");
    expect((await outcome("carol", next)).state).toBe("held");
    expect((await contacts("carol")).dave).toEqual({ identity: carolPin.identity, changed: true });
  }, 90_000);
  test("Accept adopts only the key whose safety number was read: a key swapped in after the reading is refused, the held mail stays", async () => {
    await control("erin", "frank");
    const real = hexOf(identityOf("frank"));
    const frankOf = async (): Promise<ContactView> =>
      (JSON.parse(await ok(["contacts", "--data", w.dir("erin"), "--json"])) as ContactView[]).find((c) => c.user === "frank")!;
    let swap: ReturnType<typeof makeImpostor> | undefined = relay.impostor("frank");
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => (swap && asker === "erin" && user === "frank" ? { status: "online", key: swap.key } : answer),
    };
    const held = await send("erin", "frank", "held for the checked key");
    expect((await outcome("erin", held)).state).toBe("held");

    // erin reads the changed key and its safety number (what frank would read to her)...
    const seen = await frankOf();
    const seenKey = hexOf(swap.identity.publicKey);
    expect(seen).toMatchObject({ identity: real, changed: true, newIdentity: seenKey });
    expect(seen.newSafetyNumber).toBe(safetyNumber("erin", identityOf("erin"), "frank", swap.identity.publicKey));
    expect(await ok(["contacts", "--data", w.dir("erin")])).toContain(`frank\tIDENTITY CHANGED to ${seenKey}\tnew safety number ${seen.newSafetyNumber}`);

    // ...and before she accepts, the relay swaps in mallory's key (another message asks for it).
    swap = makeImpostor("frank", w.keysOf("mallory").identity.seed);
    const second = await send("erin", "frank", "asks for the key again");
    expect((await outcome("erin", second)).state).toBe("held");
    expect((await frankOf()).newIdentity).toBe(hexOf(swap.identity.publicKey));

    // Accept with what she read: refused, through the API and the CLI alike.
    const api = new ApiClient(w.dir("erin"));
    await expect(api.post("/api/contacts/frank/accept", { key: seenKey })).rejects.toThrow("the key changed again; check the new safety number");
    const r = await cli(["accept", "frank", "--data", w.dir("erin"), "--key", seenKey]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("smsg: the key changed again; check the new safety number\n");
    // Without a terminal and without --key, nothing is accepted blind.
    const blind = await cli(["accept", "frank", "--data", w.dir("erin")]);
    expect(blind.code).toBe(1);
    expect(blind.stderr).toStartWith("smsg: not a terminal: check the safety number");
    // And an Accept that names no key at all is a bad request.
    await expect(api.post("/api/contacts/frank/accept", {})).rejects.toThrow("bad request: key");

    swap = undefined;
    await control("erin", "frank"); // the path is live
    expect((await frankOf()).identity).toBe(real);
    for (const id of [held, second]) {
      expect(await flag("erin", id)).toBe("H");
      expect(relay.transfersOf(id)).toEqual([]); // never sealed to either swapped key
      expect(await copies("frank", id)).toEqual([]);
    }
  }, 90_000);
});

describe("a hostile relay and one's own identity", () => {
  // A client knows its own identity key (it derives it from the password): its own user id
  // is never a first contact, so the relay cannot play it to its owner.
  test("a note to self is never sealed to a key the relay made for oneself", async () => {
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => (asker === "alice" && user === "alice" ? { status: "online", key: relay.impostor("alice").key } : answer),
    };
    const id = await send("alice", "alice", "note to self");
    const d = await outcome("alice", id);
    expect(d.state).toBe("queued");
    expect(d.error).toContain("not signed by our own identity key");
    expect(relay.transfersOf(id)).toEqual([]); // never sealed to the relay's key

    relay.hooks = {};
    await control("alice", "alice");
    expect(await flag("alice", id)).toBe("Q");
    expect(await copies("alice", id)).toEqual([]);
    expect((await contacts("alice")).alice?.identity ?? "no pin").not.toBe(hexOf(relay.impostor("alice").identity.publicKey));
  }, 90_000);

  test("a message forged as the recipient itself is refused, and cannot shadow a message it sent", async () => {
    const sent = await control("bob", "alice");
    const as = relay.impostor("bob");
    const forge = async (id: string, subject: string): Promise<void> => {
      const header = { v: 1, id, from: "bob", to: ["bob"], date: Date.now(), subject, body: "forged by the relay", attachments: [] };
      await relay.forge({ as, to: "bob", id: bytesOf(id), plaintext: messagePlaintext(header) });
    };
    const fresh = randomBytes(16).toString("hex");
    await forge(fresh, "from yourself, really");
    await forge(sent, "what you wrote, really");
    expect(await relay.answers("bob", fresh)).toEqual(["rejected"]);
    expect(await relay.answers("bob", sent)).toEqual(["rejected"]);
    expect(await copies("bob", fresh)).toEqual([]);
    expect(await copies("bob", sent)).toEqual([]);
    const shown = JSON.parse(await ok(["show", sent, "--data", w.dir("bob"), "--json"])) as Summary;
    expect(shown.subject).toStartWith("control ");
    expect((await contacts("bob")).bob).toBeUndefined(); // nothing pinned for "bob" by the forgery
  }, 90_000);
});

describe("a hostile relay cannot alter, re-route or replay a message", () => {
  test("a flipped byte, a cut or early end, a dropped or reordered chunk: rejected, nothing stored, the sender not S", async () => {
    const file = s.path("three-chunks.bin");
    writeFileSync(file, randomBytes(150_000)); // header + 150 000 bytes: three STREAM chunks
    type Attack = "flip" | "cut" | "early-last" | "drop-middle" | "reorder";
    const v = new Victims<Attack>(relay);
    const held = new Map<string, MessageOf<"chunk">>();
    const tamper = (attack: Attack, t: Transfer, m: MessageOf<"chunk">): Message[] => {
      switch (attack) {
        case "flip": {
          if (m.seq !== 0) return [m];
          const data = Uint8Array.from(m.data);
          data[100]! ^= 0x01;
          return [{ ...m, data }];
        }
        case "cut":
          return m.last ? [{ ...m, data: m.data.subarray(0, m.data.length - 1) }] : [m];
        case "early-last":
          return m.seq === 0 ? [{ ...m, last: true }] : [];
        case "drop-middle":
          return m.seq === 1 ? [] : m.seq === 2 ? [{ ...m, seq: 1 }] : [m];
        case "reorder":
          if (m.seq === 0) {
            held.set(t.hex, m);
            return [];
          }
          return m.seq === 1 ? [{ ...m, seq: 0 }, { ...held.get(t.hex)!, seq: 1 }] : [m];
      }
    };
    relay.hooks = {
      onSend: ({ transfer }) => (v.take(transfer), "pass"),
      onChunk: ({ transfer, m }) => {
        const attack = v.tags.get(transfer.hex);
        return attack ? tamper(attack, transfer, m) : [m];
      },
    };
    const ids: string[] = [];
    for (const attack of ["flip", "cut", "early-last", "drop-middle", "reorder"] as const) {
      v.arm("alice", "bob", attack);
      const id = await send("alice", "bob", `tampered: ${attack}`, ["--attach", file]);
      expect(await v.captured()).toBe(id);
      expect(await relay.answers("bob", id)).toEqual(["rejected"]); // bob got it and refused it
      expect(relay.transfersOf(id)[0]!.send.size).toBeGreaterThan(2 * (STREAM_CHUNK + 16)); // three chunks
      expect((await outcome("alice", id)).error).toContain("rejected the message");
      ids.push(id);
    }
    const intact = await control("alice", "bob", ["--attach", file]); // the same kind of message, untouched
    await ok(["show", intact, "--data", w.dir("bob"), "--save-attachments", s.path("saved-intact")]);
    expect(readFileSync(join(s.path("saved-intact"), "three-chunks.bin")).equals(readFileSync(file))).toBe(true);
    for (const id of ids) {
      expect(await flag("alice", id)).toBe("Q");
      expect(await copies("bob", id)).toEqual([]);
      expect(relay.acksFrom("bob", id)).not.toContain("stored");
    }
  }, 120_000);

  test("re-routed: another `from`, or bob's message delivered to carol (as sealed, or re-keyed to her): rejected, nothing stored", async () => {
    type Route = "from-carol" | "to-carol" | "to-carol-rekeyed";
    const v = new Victims<Route>(relay);
    relay.hooks = {
      onSend: ({ transfer }) => (v.take(transfer), "pass"),
      onDeliver: ({ transfer, m }) => {
        switch (v.tags.get(transfer.hex)) {
          case "from-carol":
            return [{ to: "bob", m: { ...m, from: "carol" } }];
          case "to-carol":
            return [{ to: "carol", m }];
          case "to-carol-rekeyed":
            return [{ to: "carol", m: { ...m, recipientSessionPub: relay.publishedKey("carol")!.sessionPub } }];
          default:
            return [{ to: transfer.to, m }];
        }
      },
    };
    const ids: string[] = [];
    for (const [route, gets] of [["from-carol", "bob"], ["to-carol", "carol"], ["to-carol-rekeyed", "carol"]] as const) {
      v.arm("alice", "bob", route);
      const id = await send("alice", "bob", `re-routed: ${route}`);
      expect(await v.captured()).toBe(id);
      expect(await relay.answers(gets, id)).toEqual(["rejected"]);
      expect((await outcome("alice", id)).error).toContain("rejected the message");
      ids.push(id);
    }
    await control("alice", "bob");
    await control("alice", "carol");
    for (const id of ids) {
      expect(await flag("alice", id)).toBe("Q");
      expect(await copies("bob", id)).toEqual([]);
      expect(await copies("carol", id)).toEqual([]);
    }
  }, 90_000);

  test("a replayed delivery: in the same session stored once (duplicate); in a new session rejected, nothing new stored", async () => {
    const delivered = await control("alice", "bob");
    const recorded = relay.transfersOf(delivered).at(-1)!;
    relay.replay(recorded, "bob");
    expect(await relay.answers("bob", delivered, 2)).toEqual(["stored", "duplicate"]);
    expect(await copies("bob", delivered)).toHaveLength(1);

    // A message the relay kept back from bob's current session...
    const v = new Victims<true>(relay);
    relay.hooks = { onSend: ({ transfer }) => (v.take(transfer) ? "drop" : "pass") };
    v.arm("alice", "bob", true);
    const kept = await send("alice", "bob", "kept back for later");
    expect(await v.captured()).toBe(kept);
    const keptBack = await waitFor("the relay to record the whole message", () => {
      const t = relay.transfersOf(kept)[0];
      return t?.chunks.at(-1)?.last ? t : undefined;
    }, 20_000, 20);
    // ...is replayed, with the delivered one, after bob reconnected with a new session key.
    const before = relay.publishedKey("bob")!.sessionPub;
    relay.disconnect("bob");
    await waitFor("bob's new session key", () => {
      const k = relay.publishedKey("bob");
      return k && hexOf(k.sessionPub) !== hexOf(before);
    }, 20_000, 20);
    relay.replay(keptBack, "bob");
    relay.replay(recorded, "bob");
    expect(await relay.answers("bob", kept)).toEqual(["rejected"]);
    expect(await relay.answers("bob", delivered, 3)).toEqual(["stored", "duplicate", "rejected"]);
    expect(await copies("bob", kept)).toEqual([]);
    expect(await copies("bob", delivered)).toHaveLength(1);
    expect(await flag("alice", kept)).toBe("Q");

    // Not lost for good: once the relay behaves, the sender's own retry arrives, once.
    relay.hooks = {};
    relay.failTransfer(kept);
    await waitFlag("alice", kept, "S");
    expect(await copies("bob", kept)).toHaveLength(1);
  }, 90_000);

  test("a delivery duplicated within one session, after or during the first: stored once, the sender S", async () => {
    type Dup = "after" | "during";
    const v = new Victims<Dup>(relay);
    relay.hooks = {
      onSend: ({ transfer }) => (v.take(transfer), "pass"),
      onDeliver: ({ transfer, m }) => (v.tags.get(transfer.hex) === "during" ? [{ to: "bob", m }, { to: "bob", m }] : [{ to: transfer.to, m }]),
      onChunk: ({ transfer, m }) => {
        const dup = v.tags.get(transfer.hex);
        if (dup === "during") return [m, m];
        return [m];
      },
      // "after": the same DELIVER and CHUNKs again once bob has answered the first (his answer
      // is passed on first), so the copy meets a stored message, however long the commit took.
      // "during": the second DELIVER while the first is in progress is refused; the relay
      // hides that.
      onAck: ({ transfer, m }) => {
        if (m.status === "rejected") return null;
        if (v.tags.get(transfer.hex) === "after" && !replayed.has(transfer.hex)) {
          replayed.add(transfer.hex);
          queueMicrotask(() => relay.replay(transfer, "bob"));
        }
        return m;
      },
    };
    const replayed = new Set<string>();
    for (const [dup, answers] of [["after", ["stored", "duplicate"]], ["during", ["rejected", "stored"]]] as const) {
      v.arm("alice", "bob", dup);
      const id = await send("alice", "bob", `duplicated ${dup}`);
      expect(await v.captured()).toBe(id);
      await waitFlag("alice", id, "S");
      expect(await relay.answers("bob", id, 2)).toEqual([...answers]);
      expect(await copies("bob", id)).toHaveLength(1);
    }
  }, 90_000);
});

describe("CHUNKs that wait for their DELIVER to open", () => {
  test("a DELIVER and all its CHUNKs in one write: the CHUNKs wait while it opens, each with its own copy, and the message is stored intact", async () => {
    // Bob's link gives a lone CHUNK's record back to the allocator once it was handled
    // (relay-client.ts); one that must wait for the ML-KEM decapsulation has to be copied
    // first, or it would wait as an empty view and the transfer would be refused.
    const file = s.path("waiting-chunks.bin");
    writeFileSync(file, randomBytes(150_000)); // three full-size-ish STREAM chunks
    const v = new Victims<"late">(relay);
    const held = new Map<string, Message[]>();
    relay.hooks = {
      onSend: ({ transfer }) => (v.take(transfer), "pass"),
      // A heartbeat routes the transfer to bob; the DELIVER itself waits for the last CHUNK.
      onDeliver: ({ transfer, m }) => {
        if (!v.tags.get(transfer.hex)) return [{ to: transfer.to, m }];
        held.set(transfer.hex, [m]);
        return [{ to: "bob", m: { t: "heartbeat" } }];
      },
      onChunk: ({ transfer, m }) => {
        const waiting = held.get(transfer.hex);
        if (!waiting) return [m];
        waiting.push(m);
        return m.last ? waiting : [];
      },
    };
    v.arm("alice", "bob", "late");
    const id = await send("alice", "bob", "chunks before the deliver opens", ["--attach", file]);
    expect(await v.captured()).toBe(id);
    await waitFlag("alice", id, "S");
    expect(held.get(id)!.map((m) => m.t)).toEqual(["deliver", "chunk", "chunk", "chunk"]);
    expect(await relay.answers("bob", id)).toEqual(["stored"]);
    await ok(["show", id, "--data", w.dir("bob"), "--save-attachments", s.path("saved-waiting")]);
    expect(readFileSync(join(s.path("saved-waiting"), "waiting-chunks.bin")).equals(readFileSync(file))).toBe(true);
  }, 90_000);
});

describe("what a hostile relay can still do (SECURITY.md section 5)", () => {
  test("an old session key of bob, given to alice, only denies service: bob rejects it, nothing stored, Q", async () => {
    await control("alice", "bob");
    const old = relay.publishedKey("bob")!;
    relay.disconnect("bob");
    await waitFor("bob's new session key", () => {
      const k = relay.publishedKey("bob");
      return k && hexOf(k.sessionPub) !== hexOf(old.sessionPub);
    }, 20_000, 20);
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => (asker === "alice" && user === "bob" ? { status: "online", key: old } : answer),
      onSend: ({ transfer }) => (transfer.to === "bob" ? "force" : "pass"), // past the honest relay's stale-key check
    };
    const id = await send("alice", "bob", "sealed to an old key");
    expect(await relay.answers("bob", id)).toEqual(["rejected"]);
    expect((await outcome("alice", id)).error).toContain("rejected the message");
    expect(await copies("bob", id)).toEqual([]);
  }, 90_000);

  test("it can fail a delivery for good without proof (SEND_FAILED unknown-user: F), never make it S", async () => {
    const v = new Victims<true>(relay);
    relay.hooks = {
      onSend: ({ transfer }) => {
        if (!v.take(transfer)) return "pass";
        relay.failTransfer(transfer.hex, "unknown-user");
        return "drop";
      },
    };
    v.arm("alice", "bob", true);
    const id = await send("alice", "bob", "said not to exist");
    expect(await v.captured()).toBe(id);
    const d = await outcome("alice", id);
    expect(d).toMatchObject({ state: "failed" });
    expect(d.error).toContain("not a user of this relay");
    expect(await flag("alice", id)).toBe("F");
    await control("alice", "bob");
    expect(await copies("bob", id)).toEqual([]);
  }, 90_000);
});

describe("a hostile relay cannot make the handshake classical (SPEC.md §3.1)", () => {
  test("ML-KEM stripped from message 2, encapsulated to another key, or corrupted: shown, retried, never logged in", async () => {
    for (const [trick, code] of [
      ["strip", "malformed"],
      ["swap", "bad-tag"],
      ["corrupt", "bad-tag"],
    ] as const) {
      relay.kem = trick;
      const logins = relay.logins;
      relay.disconnect("frank");
      const shown = await waitFor(`frank's status to show the ${trick} handshake failing`, async () => {
        const st = await status(w.dir("frank"));
        return st.error?.includes(`handshake with the relay failed (${code})`) ? st : undefined;
      }, 20_000, 100);
      expect([shown.state, shown.connected]).toEqual(["retrying", false]);
      // It keeps trying, and every attempt ends before message 3: the relay never learns who
      // this is, and no classical session is ever made.
      const seen = relay.firstRecords;
      await waitFor(`frank to try twice more against the ${trick} relay`, () => relay.firstRecords >= seen + 2 || undefined, 20_000, 50);
      expect(relay.logins).toBe(logins);
      expect(relay.publishedKey("frank")).toBeUndefined();
      expect((await status(w.dir("frank"))).connected).toBe(false);
    }
    relay.kem = "honest";
    await waitConnected(w.dir("frank"));
    await relay.waitOnline("frank");
  }, 120_000);
});

describe("a hostile relay cannot make a message classical (SPEC.md §5.1-§5.2)", () => {
  test("a KEY whose ML-KEM half is swapped or stripped: never sealed, shown; the real key then works", async () => {
    // dave writes to erin: no earlier test left dave mail that his outbox could retry, so the
    // only GET_KEYs for erin are this test's.
    await control("dave", "erin");
    const pin = (await contacts("dave")).erin;
    const own = await mlkemKeyGen(); // the relay's own ML-KEM-768 key
    // Every GET_KEY dave makes for erin gets the same answer, whoever asks (the CLI's send or
    // the outbox): the phases are ordered by what the outbox has recorded, never by which
    // GET_KEY happens to come first.
    let trick: "swap" | "offline" | "strip" | undefined;
    const strips: string[] = []; // dave's published session key when each stripped KEY was answered
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => {
        if (!trick || asker !== "dave" || user !== "erin" || answer.status !== "online") return answer;
        if (trick === "offline") return { status: "offline" };
        if (trick === "strip") strips.push(hexOf(relay.publishedKey("dave")?.sessionPub ?? new Uint8Array(0)));
        // Under erin's genuine signature: the ML-KEM half replaced, or the key in version 1's layout.
        return trick === "swap" ? { status: "online", key: { ...answer.key!, sessionKemPub: own.encapsulationKey } } : { ...answer, classical: true };
      },
    };
    trick = "swap";
    const swapped = await send("dave", "erin", "to a swapped ML-KEM key");
    const d = await outcome("dave", swapped);
    expect(d.state).toBe("queued");
    expect(d.error).toContain("badly signed key for erin");
    expect(relay.transfersOf(swapped)).toEqual([]); // never sealed, not even to X25519 alone
    expect((await contacts("dave")).erin).toEqual(pin!); // a bad signature, not a new identity: the pin is untouched

    // A message queued while erin looks offline. Its outbox attempt hears "offline" too, and
    // then asks nothing more about erin until her presence or a new link.
    trick = "offline";
    const queued = await ok(["send", "--data", w.dir("dave"), "--to", "erin", "--subject", "to a stripped key", "--body", "stripped later"]);
    expect(queued).toContain("offline: erin");
    const stripped = queued.match(/[0-9a-f]{32}/)![0];
    expect(await outcome("dave", stripped)).toMatchObject({ state: "queued", error: "erin is offline" });

    trick = "strip";
    // `smsg send` asks for the key itself first (the only GET_KEY for erin now): the KEY does
    // not decode, the link drops, and the person is told, in one sentence, with nothing queued.
    const refused = await cli(["send", "--data", w.dir("dave"), "--to", "erin", "--subject", "refused", "--body", "stripped"]);
    expect([refused.code, refused.stderr.trim()]).toEqual([1, "smsg: the connection to the relay was lost; try again"]);
    expect(strips.length).toBeGreaterThanOrEqual(1);
    // On the new link the outbox asks for erin's key again, and it is stripped: dave's client
    // drops that link too (and logs in again with a new session key), says why, and keeps retrying.
    await waitFor("the outbox to ask for erin's key on a new link", () => strips.length >= 2 || undefined, 20_000, 20);
    expect(strips[1]).not.toBe(strips[0]);
    await waitFor("dave to log in again after the stripped KEY", () => {
      const k = relay.publishedKey("dave");
      return (k && hexOf(k.sessionPub) !== strips[1]) || undefined;
    }, 20_000, 20);
    const shown = await waitFor("dave's status to show the stripped key", async () => {
      const st = await status(w.dir("dave"));
      return st.error?.includes("bad data from the relay (malformed)") ? st : undefined;
    }, 20_000, 50);
    expect(shown.connected).toBe(false);
    expect(await flag("dave", stripped)).toBe("Q");
    // Nothing was sealed while the relay lied, to either key.
    expect(relay.transfersOf(stripped)).toEqual([]);
    expect(relay.transfersOf(swapped)).toEqual([]);

    trick = undefined;
    await waitConnected(w.dir("dave"));
    await waitFlag("dave", stripped, "S");
    expect(await copies("erin", stripped)).toHaveLength(1);
  }, 90_000);

  test("a DELIVER with the sender's ML-KEM half swapped, or an ML-KEM ciphertext that does not decapsulate: rejected, nothing stored, the sender told", async () => {
    type Attack = "key-swap" | "ct-flip" | "ct-other" | "ct-zero";
    const own = await mlkemKeyGen();
    const other = (await mlkemEncaps(own.encapsulationKey)).ciphertext; // a real ciphertext, for another key
    const v = new Victims<Attack>(relay);
    const tamper = (attack: Attack, m: MessageOf<"deliver">): MessageOf<"deliver"> => {
      switch (attack) {
        case "key-swap":
          return { ...m, senderKey: { ...m.senderKey, sessionKemPub: own.encapsulationKey } };
        case "ct-flip": {
          const kemCiphertext = Uint8Array.from(m.kemCiphertext);
          kemCiphertext[500]! ^= 0x10;
          return { ...m, kemCiphertext };
        }
        case "ct-other":
          return { ...m, kemCiphertext: other };
        case "ct-zero":
          return { ...m, kemCiphertext: new Uint8Array(m.kemCiphertext.length) };
      }
    };
    relay.hooks = {
      onSend: ({ transfer }) => (v.take(transfer), "pass"),
      onDeliver: ({ transfer, m }) => {
        const attack = v.tags.get(transfer.hex);
        return [{ to: transfer.to, m: attack ? tamper(attack, m) : m }];
      },
    };
    const ids: string[] = [];
    for (const attack of ["key-swap", "ct-flip", "ct-other", "ct-zero"] as const) {
      v.arm("alice", "bob", attack);
      const id = await send("alice", "bob", `ML-KEM tampered: ${attack}`);
      expect(await v.captured()).toBe(id);
      expect(await relay.answers("bob", id)).toEqual(["rejected"]); // bob got it and refused it
      expect((await outcome("alice", id)).error).toContain("rejected the message");
      ids.push(id);
    }
    await control("alice", "bob"); // the path is live, untouched messages open
    for (const id of ids) {
      expect(await flag("alice", id)).toBe("Q");
      expect(await copies("bob", id)).toEqual([]);
      expect(relay.acksFrom("bob", id)).not.toContain("stored");
    }
  }, 90_000);

  test("a DELIVER stripped to version 1's layout: the recipient drops the link and shows why, stores nothing; once the relay behaves it arrives", async () => {
    await control("alice", "bob");
    const v = new Victims<true>(relay);
    let stripping = true;
    relay.hooks = {
      onSend: ({ transfer }) => (v.take(transfer), "pass"),
      onDeliver: ({ transfer, m }) => [{ to: transfer.to, m, classical: stripping && v.tags.has(transfer.hex) }],
    };
    v.arm("alice", "bob", true);
    const id = await send("alice", "bob", "its DELIVER stripped of ML-KEM");
    expect(await v.captured()).toBe(id);
    const shown = await waitFor("bob's status to show the stripped DELIVER", async () => {
      const st = await status(w.dir("bob"));
      return st.error?.includes("bad data from the relay (malformed)") ? st : undefined;
    }, 20_000, 50);
    expect(shown.connected).toBe(false);
    expect(relay.acksFrom("bob", id)).toEqual([]); // nothing was opened, so nothing to answer
    expect(await copies("bob", id)).toEqual([]);
    expect(await flag("alice", id)).toBe("Q");

    stripping = false;
    await waitConnected(w.dir("bob"));
    await waitFlag("alice", id, "S");
    expect(await copies("bob", id)).toHaveLength(1);
  }, 90_000);
});

describe("what the relay sees", () => {
  test("no subject, body, attachment name or content appears in anything the relay decrypted", async () => {
    const tag = randomBytes(6).toString("hex");
    const subject = `subject-${tag}`;
    const body = `body-${tag}`;
    const name = `name-${tag}.txt`;
    const marker = `content-${tag}-`;
    const file = join(s.path(), name);
    writeFileSync(file, marker.repeat(Math.ceil(200_000 / marker.length))); // several chunks, each full of the marker
    const id = await ok(["send", "--data", w.dir("alice"), "--to", "bob", "--subject", subject, "--body", body, "--attach", file]).then(
      (o) => o.match(/[0-9a-f]{32}/)![0],
    );
    await waitFlag("alice", id, "S");
    await received("bob", id);
    const shown = JSON.parse(await ok(["show", id, "--data", w.dir("bob"), "--json", "--save-attachments", s.path("saved-8")])) as Summary & { body: string };
    expect(shown).toMatchObject({ subject, body, attachments: [{ name }] });
    expect(readFileSync(join(s.path("saved-8"), name)).equals(readFileSync(file))).toBe(true);

    // The search works: what the relay decrypted holds the metadata it routes by, the wire does not.
    expect(relay.saw("alice")).toBe(true);
    expect(relay.saw(bytesOf(id))).toBe(true);
    expect(relay.saw("alice", "raw")).toBe(false);
    // Not a search of nothing: the raw records hold at least the attachment's ciphertext (a view
    // kept of a socket read, which is released once handled, would read as empty).
    expect(relay.rawRecords.reduce((n, r) => n + r.length, 0)).toBeGreaterThan(200_000);
    for (const secret of [subject, body, name, marker, tag]) {
      expect(relay.saw(secret)).toBe(false);
      expect(relay.saw(secret, "raw")).toBe(false);
    }
  }, 90_000);
});

describe("a hostile relay cannot forge a password change (SPEC.md §5.5)", () => {
  test("statements not signed by the pinned key, or signed for another user, move no pin: the swapped key is held both ways", async () => {
    await control("gina", "hank");
    await control("hank", "gina");
    const fake = relay.impostor("hank");
    const real = identityOf("hank");
    const mallory = w.keysOf("mallory").identity;
    const now = Date.now();
    const forged = signIdentityChange(fake.identity.seed, "hank", fake.identity.publicKey, real, now); // a real signature, by the wrong key...
    relay.statements.set("hank", [
      { ...forged, oldIdentityPub: real, newIdentityPub: fake.identity.publicKey }, // ...claimed to be hank's old key
      signIdentityChange(mallory.seed, "mallory", mallory.publicKey, fake.identity.publicKey, now), // mallory's own, replayed for hank
      signIdentityChange(fake.identity.seed, "hank", fake.identity.publicKey, mallory.publicKey, now), // a chain that does not start at the pin
    ]);
    relay.hooks = {
      onGetKey: ({ asker, user, answer }) => (asker === "gina" && user === "hank" ? { status: "online", key: fake.key } : answer),
    };
    // gina writing to hank: the relay's key for him is held, not followed.
    const held = await send("gina", "hank", "after a forged password change");
    expect((await outcome("gina", held)).state).toBe("held");
    // A message "from hank" sealed by the relay's key is refused as a changed identity.
    const id = new Uint8Array(randomBytes(16));
    relay.forge({ as: fake, to: "gina", id, plaintext: messagePlaintext({ v: 1, id: hexOf(id), from: "hank", to: ["gina"], date: now, subject: "forged", body: "forged", attachments: [] }) });
    expect(await relay.answers("gina", hexOf(id))).toEqual(["identity-changed"]);
    const view = (JSON.parse(await ok(["contacts", "--data", w.dir("gina"), "--json"])) as ContactView[]).find((c) => c.user === "hank")!;
    expect(view).toMatchObject({ identity: hexOf(real), changed: true, newIdentity: hexOf(fake.identity.publicKey), passwordChangedAt: null });
    expect(await copies("gina", hexOf(id))).toEqual([]);
  }, 90_000);
});
