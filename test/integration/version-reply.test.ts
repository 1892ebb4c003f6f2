// A forged version reply cannot stop a client (SPEC.md §2.3, SECURITY.md §14 finding 10): the
// 7-byte record `00 05 SMSG v` comes before anything is authenticated, so anyone on the path
// can send it. A real client process against a fake relay (a real socket that answers every
// first record with it) shows the mismatch in `status` and keeps reconnecting with backoff;
// a reply naming the client's own version is a malformed reply, retried the same way.
// Version 1 (the classical Noise_XX handshake) against version 2 (Noise_XXhfs), both ways: a
// fake version-1 relay makes a real client say to upgrade the relay; a fake version-1 client
// gets a real relay's version reply; a version-2 first record stripped of its ML-KEM key is
// closed without a word (SPEC.md §3.1): nothing falls back to a classical handshake.

import { afterAll, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { Scratch, passwordFile, startClient, startRelay, status, waitFor } from "../support/harness.ts";
import { RawSocket } from "../support/raw-client.ts";
import { PREAMBLE_MAGIC, PROTOCOL_VERSION } from "../../src/protocol/framing.ts";
import { PREAMBLE, XxInitiator } from "../../src/protocol/handshake.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";

const s = new Scratch();

/** A "relay" that answers each connection's first bytes with the bare preamble of `version`. */
class VersionReplier {
  connections = 0;
  readonly version: number;
  readonly listener: TCPSocketListener<undefined>;
  constructor(version: number) {
    this.version = version;
    this.listener = Bun.listen<undefined>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: () => {
          this.connections++;
        },
        data: (sock) => {
          sock.write(concat(Uint8Array.of(0, 5), PREAMBLE_MAGIC, Uint8Array.of(this.version)));
          sock.end();
        },
      },
    });
  }
  get port(): number {
    return this.listener.port;
  }
}

const fakes: VersionReplier[] = [];
afterAll(async () => {
  await s.cleanup();
  for (const f of fakes) f.listener.stop(true);
});

async function clientOf(user: string, fake: VersionReplier): Promise<string> {
  const pw = passwordFile(s.path("pw"), user, `${user}'s password`);
  const data = s.path(user);
  s.track(await startClient({ user, server: `127.0.0.1:${fake.port}`, dataDir: data, passwordFile: pw }));
  return data;
}

describe("a version reply before the handshake", () => {
  test("another version: status says which and to upgrade, and the client keeps reconnecting", async () => {
    const fake = new VersionReplier(PROTOCOL_VERSION + 1);
    fakes.push(fake);
    const data = await clientOf("vera", fake);
    const shown = await waitFor("status to show the version mismatch", async () => {
      const st = await status(data);
      return st.error?.includes("protocol version") ? st : undefined;
    });
    expect(shown.state).toBe("retrying");
    expect(shown.connected).toBe(false);
    expect(shown.error).toContain(`the relay speaks protocol version ${PROTOCOL_VERSION + 1}, this client ${PROTOCOL_VERSION}: upgrade this client`);
    // Not given up: more connections arrive after the mismatch was shown.
    const seen = fake.connections;
    await waitFor("the client to reconnect twice more", () => fake.connections >= seen + 2, 15_000);
    expect((await status(data)).state).toBe("retrying");
  }, 60_000);

  test("the client's own version: a malformed reply, retried", async () => {
    const fake = new VersionReplier(PROTOCOL_VERSION);
    fakes.push(fake);
    const data = await clientOf("owen", fake);
    const shown = await waitFor("status to show a malformed reply", async () => {
      const st = await status(data);
      return st.state !== "connecting" ? st : undefined;
    });
    expect(shown.state).toBe("retrying");
    expect(shown.error).toContain("handshake with the relay failed (malformed)");
    const seen = fake.connections;
    await waitFor("the client to reconnect twice more", () => fake.connections >= seen + 2, 15_000);
  }, 60_000);
});

describe("protocol version 1 against version 2", () => {
  test("a version-1 relay: status says the relay speaks 1, this client 2, upgrade the relay; retried", async () => {
    expect(PROTOCOL_VERSION).toBe(2);
    const fake = new VersionReplier(1);
    fakes.push(fake);
    const data = await clientOf("vicky", fake);
    const shown = await waitFor("status to show the version mismatch", async () => {
      const st = await status(data);
      return st.error?.includes("protocol version") ? st : undefined;
    });
    expect(shown.state).toBe("retrying");
    expect(shown.error).toContain("the relay speaks protocol version 1, this client 2: upgrade the relay");
    const seen = fake.connections;
    await waitFor("the client to reconnect twice more", () => fake.connections >= seen + 2, 15_000);
  }, 60_000);

  test("a version-1 client (a classical Noise_XX message 1) gets the relay's version reply 0005534d534702, then a close", async () => {
    const relay = s.track(await startRelay({ dataDir: s.path("relay") }));
    const v1 = new XxInitiator(concat(PREAMBLE_MAGIC, Uint8Array.of(1)), { s: x25519Generate() }, "XX");
    const raw = await RawSocket.connect("127.0.0.1", relay.port);
    raw.framed.send(concat(PREAMBLE_MAGIC, Uint8Array.of(1), await v1.writeMessage1(new Uint8Array(0))));
    await raw.waitClosed(10_000);
    expect(raw.records.map((r) => Buffer.from(r).toString("hex"))).toEqual(["534d534702"]);

    // The same message 1 under the version-2 preamble: e without e1, a first record stripped
    // of its ML-KEM key. Closed with nothing answered: no message 2, classical or other.
    const stripped = new XxInitiator(PREAMBLE, { s: x25519Generate() }, "XX");
    const raw2 = await RawSocket.connect("127.0.0.1", relay.port);
    raw2.framed.send(concat(PREAMBLE, await stripped.writeMessage1(new Uint8Array(0))));
    await raw2.waitClosed(10_000);
    expect(raw2.records).toEqual([]);
  }, 60_000);
});
