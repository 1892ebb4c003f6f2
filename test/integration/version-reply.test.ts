// A forged version reply cannot stop a client (SPEC.md §2.3, SECURITY.md §14 finding 10): the
// 7-byte record `00 05 SMSG v` comes before anything is authenticated, so anyone on the path
// can send it. A real client process against a fake relay (a real socket that answers every
// first record with it) shows the mismatch in `status` and keeps reconnecting with backoff;
// a reply naming the client's own version is a malformed reply, retried the same way.

import { afterAll, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { Scratch, passwordFile, startClient, status, waitFor } from "../support/harness.ts";
import { PREAMBLE_MAGIC, PROTOCOL_VERSION } from "../../src/protocol/framing.ts";
import { concat } from "../../src/protocol/bytes.ts";

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
