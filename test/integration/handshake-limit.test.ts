// New handshakes per address are a token bucket (SPEC.md §3.3 "Handshake limit", SECURITY.md
// §14 finding 12): past `handshakes_burst` from one address the relay closes a new
// connection at accept, before reading a byte, so no key generation or X25519 is done for it;
// a line `handshake-limit` is logged; once the bucket refills, a login works again.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, passwordFile, register, startRelay, waitFor } from "../support/harness.ts";
import { RawClient, RawSocket } from "../support/raw-client.ts";
import { ClientHandshake } from "../../src/protocol/handshake.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

/** Send message 1 and say what came back: the relay's message 2, or a close without a word. */
async function hello(port: number): Promise<{ answer: "message 2" | "closed"; ms: number }> {
  const first = await new ClientHandshake({ login: x25519Generate() }).start();
  const t0 = performance.now();
  const raw = await RawSocket.connect("127.0.0.1", port);
  raw.framed.send(first);
  await waitFor("message 2 or a close", () => raw.records.length > 0 || raw.closed || undefined, 10_000, 5);
  const answer = raw.records.length > 0 ? "message 2" : "closed";
  raw.framed.close("done");
  return { answer, ms: performance.now() - t0 };
}

describe("handshake limit", () => {
  test("past the burst a new connection is closed at accept without crypto, logged, and a login works after the refill", async () => {
    // One token every 2 s: the refusals below cannot be refilled away while the test runs.
    const relay = s.track(await startRelay({ dataDir: s.path("relay"), extra: ["--handshakes-burst", "3", "--handshakes-per-second", "0.5"] }));
    const pw = passwordFile(s.path("pw"), "hana", "hana's password");
    await register(relay.dataDir, "hana", pw);
    const { login } = await deriveUserKeys("hana", "hana's password");

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await hello(relay.port)).answer);
    expect(answers).toEqual(["message 2", "message 2", "message 2"]);
    const over = await hello(relay.port);
    expect(over.answer).toBe("closed");

    // Closed at accept: a connection that sends nothing at all is closed at once, not after
    // the 10 s handshake timeout, and never gets a byte; the relay read nothing to work on.
    const t0 = performance.now();
    const silent = await RawSocket.connect("127.0.0.1", relay.port);
    await silent.waitClosed(3000);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(silent.records).toEqual([]);

    const file = join(relay.dataDir, "logs", `relay-${new Date().toISOString().slice(0, 10)}.log`);
    const text = await waitFor("the handshake-limit line", () => {
      const t = existsSync(file) ? readFileSync(file, "utf8") : "";
      return /warn handshake-limit addr=127\.0\.0\.1 /.test(t) ? t : undefined;
    });
    // Only the admitted connections were logged as connections.
    expect(text.match(/ info connect addr=/g)?.length).toBe(3);

    // The bucket refills (one token per 2 s): the right password then logs in.
    const r = await waitFor("a login after the refill", async () => {
      const x = await RawClient.login("127.0.0.1", relay.port, "hana", login).catch(() => undefined);
      return x?.status === "ok" ? x : undefined;
    }, 15_000, 200);
    expect(r.status).toBe("ok");
  }, 60_000);
});
