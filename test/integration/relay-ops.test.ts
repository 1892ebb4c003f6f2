// Running a relay for real: daily log files from a real relay process (content,
// no secrets, the midnight roll, --log-days, --service's folder), the config file under the
// flags, connection / login / message limits with their answers, and a graceful SIGTERM.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, ok, passwordFile, register, startRelay, waitFor, type RelayHandle } from "../support/harness.ts";
import { RawClient, RawSocket } from "../support/raw-client.ts";
import { MLKEM768_CT_LENGTH } from "../../src/protocol/mlkem.ts";
import { deriveUserKeys, encodeRegistrationCode, type UserKeys } from "../../src/protocol/keys.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";
import type { Message } from "../../src/protocol/messages.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

const today = () => new Date().toISOString().slice(0, 10);
const keysOf = new Map<string, UserKeys>();

/** Register user on the relay with a code from a password; keys kept for RawClient logins. */
async function user(relay: RelayHandle, name: string): Promise<UserKeys> {
  const pw = passwordFile(s.path("pw"), name, `${name}'s password`);
  await register(relay.dataDir, name, pw);
  const k = keysOf.get(name) ?? (await deriveUserKeys(name, `${name}'s password`));
  keysOf.set(name, k);
  return k;
}

async function loggedIn(port: number, name: string, k: UserKeys, host = "127.0.0.1") {
  const r = await RawClient.login(host, port, name, k.login);
  expect(r.status).toBe("ok");
  const pub = r.client.publish(name, k.identity.seed, k.identity.publicKey);
  return { c: r.client, ...pub };
}

function ports(relay: RelayHandle): number[] {
  return relay.proc.lines.flatMap((l) => (/^listening on .*:(\d+)$/.exec(l) ? [Number(/:(\d+)$/.exec(l)![1])] : []));
}

describe("daily logs", () => {
  test("connects, logins, failures and disconnects go to DATA/logs/relay-DATE.log; no keys", async () => {
    const relay = s.track(await startRelay({ dataDir: s.path("relay-log") }));
    const alice = await user(relay, "alice");
    const a = await loggedIn(relay.port, "alice", alice);
    const bad = await RawClient.login("127.0.0.1", relay.port, "alice", x25519Generate());
    expect(bad.status).toBe("auth-failed");
    a.c.raw.framed.close("bye");
    const file = join(relay.dataDir, "logs", `relay-${today()}.log`);
    const text = await waitFor("the disconnect in the log", () => {
      const t = existsSync(file) ? readFileSync(file, "utf8") : "";
      return t.includes("disconnect user=alice") ? t : undefined;
    });
    expect(text).toMatch(/ info relay-start listen=127\.0\.0\.1:\d+ key=smsgrelay1/);
    expect(text).toMatch(/ info connect addr=127\.0\.0\.1\n/);
    expect(text).toMatch(/ info login user=alice addr=127\.0\.0\.1\n/);
    expect(text).toMatch(/ warn login-failed user=alice addr=127\.0\.0\.1 key=[0-9a-f]{8}\n/);
    expect(text).toMatch(/ info disconnect user=alice addr=127\.0\.0\.1 reason=/);
    // Never key material: not the relay's secret, not a login key or registration code.
    const secret = readFileSync(join(relay.dataDir, "relay-key"), "utf8").trim();
    for (const k of [secret, Buffer.from(alice.login.publicKey).toString("hex"), encodeRegistrationCode(alice.login.publicKey), Buffer.from(a.session.publicKey).toString("hex")]) {
      expect(text).not.toContain(k);
    }
    // The same lines went to standard output (not a terminal: plain, no escape codes).
    expect(relay.proc.output).toContain("info login user=alice addr=127.0.0.1");
    expect(relay.proc.output).not.toContain("\x1b[");
  });

  test("the running relay rolls to a new file at UTC midnight and keeps --log-days days", async () => {
    const logs = s.path("roll-logs");
    mkdirSync(logs, { recursive: true });
    for (const d of ["2031-03-01", "2031-03-08"]) writeFileSync(join(logs, `relay-${d}.log`), "old\n");
    const relay = s.track(
      await startRelay({
        dataDir: s.path("relay-roll"),
        extra: ["--log-dir", logs, "--log-days", "2"],
        env: { SMSG_TEST_START_TIME: "2031-03-09T23:59:58.500Z" },
      }),
    );
    // At start: 03-01 is older than two days; 03-08 (yesterday) stays.
    expect(readdirSync(logs).sort()).toEqual(["relay-2031-03-08.log", "relay-2031-03-09.log"]);
    // Connections log lines; the first one after midnight opens the next file.
    await waitFor("the 2031-03-10 file", async () => {
      (await RawSocket.connect("127.0.0.1", relay.port)).framed.close("probe");
      return existsSync(join(logs, "relay-2031-03-10.log"));
    }, 15_000, 200);
    expect(readFileSync(join(logs, "relay-2031-03-09.log"), "utf8")).toMatch(/^2031-03-09T23:59:5\d\.\d+Z info relay-start/);
    expect(readFileSync(join(logs, "relay-2031-03-10.log"), "utf8")).toMatch(/^2031-03-10T00:00:0\d\.\d+Z info connect addr=127\.0\.0\.1/);
    expect(readdirSync(logs).sort()).toEqual(["relay-2031-03-09.log", "relay-2031-03-10.log"]);
  }, 30_000);

  test("--service writes to /var/log/smsg and keeps standard output to the start lines", async () => {
    const relay = s.track(await startRelay({ dataDir: s.path("relay-service"), extra: ["--service"] }));
    const file = join("/var/log/smsg", `relay-${today()}.log`);
    const line = await waitFor("the relay-start line", () =>
      readFileSync(file, "utf8").split("\n").find((l) => l.includes(`info relay-start listen=127.0.0.1:${relay.port} `)),
    );
    expect(line).toContain(relay.key);
    expect(relay.proc.output).toContain("log: /var/log/smsg");
    expect(relay.proc.output).not.toContain("info relay-start");
  });
});

describe("config file and limits", () => {
  test("the config file sets limits, a flag overrides it, and clients hear the limit", async () => {
    const cfg = s.path("relay.toml");
    writeFileSync(cfg, 'max_message_mb = 3\nmax_connections_per_address = 2\nlisten = "127.0.0.1:1"\n');
    const relay = s.track(await startRelay({ dataDir: s.path("relay-limits"), extra: ["--config", cfg, "--max-message-mb", "5"] }));
    const dave = await user(relay, "dave");
    const one = await RawClient.login("127.0.0.1", relay.port, "dave", dave.login);
    expect(one.client.maxMessageBytes).toBe(5 * 1024 * 1024); // the flag won over the file
    const two = await RawClient.login("127.0.0.1", relay.port, "dave", dave.login);
    expect(two.status).toBe("ok");
    const three = await RawClient.login("127.0.0.1", relay.port, "dave", dave.login);
    expect(three).toMatchObject({ status: "busy", reason: "too many connections from your address (the limit is 2)" });
    await three.client.raw.waitClosed();
    const bad = await ok(["relay", "--data", s.path("relay-bad"), "--config", cfg, "--log-days", "x"]).catch((e: Error) => e.message);
    expect(bad).toContain("--log-days must be a whole number");
  });

  test("connections in total are limited; so are failed logins per user id, except from known addresses", async () => {
    const relay = s.track(
      await startRelay({
        dataDir: s.path("relay-total"),
        listen: ["127.0.0.1:0", "[::1]:0"],
        extra: ["--max-connections", "3", "--failed-logins-per-user-burst", "2", "--failed-logins-burst", "100"],
      }),
    );
    const [p4, p6] = ports(relay) as [number, number];
    const erin = await user(relay, "erin");
    const known = await RawClient.login("::1", p6, "erin", erin.login); // ::1 becomes a known address of erin
    expect(known.status).toBe("ok");
    const guesses: string[] = [];
    for (let i = 0; i < 3; i++) {
      const g = await RawClient.login("127.0.0.1", p4, "erin", x25519Generate());
      guesses.push(g.status);
      await g.client.raw.waitClosed();
    }
    expect(guesses).toEqual(["auth-failed", "auth-failed", "rate-limited"]);
    const limited = await RawClient.login("127.0.0.1", p4, "erin", erin.login);
    expect(limited).toMatchObject({ status: "rate-limited", reason: "too many failed logins for this user id; wait a few minutes" });
    await limited.client.raw.waitClosed();
    // From her known address erin still gets in: a stranger cannot lock her out. (A refused
    // connection may not have been closed at the relay yet: "busy" is tried again.)
    for (let n = 0; n < 2; n++) {
      await waitFor("erin in from ::1", async () => {
        const r = await RawClient.login("::1", p6, "erin", erin.login);
        if (r.status === "busy") return undefined;
        expect(r.status).toBe("ok");
        return r;
      });
    }
    const full = await RawClient.login("127.0.0.1", p4, "erin", erin.login);
    expect(full).toMatchObject({ status: "busy", reason: "the relay has its maximum of 3 connections; try again later" });
    const log = readFileSync(join(relay.dataDir, "logs", `relay-${today()}.log`), "utf8");
    expect(log).toContain("warn login-rate-limited user=erin addr=127.0.0.1 per=user");
    expect(log).toContain("warn connection-limit addr=127.0.0.1 reason=total");
  });

  test("messages per minute per user: SEND_FAILED rate-limited", async () => {
    const relay = s.track(await startRelay({ dataDir: s.path("relay-rate"), extra: ["--messages-per-minute", "2"] }));
    const [fay, gus] = [await user(relay, "fay"), await user(relay, "gus")];
    const f = await loggedIn(relay.port, "fay", fay);
    const g = await loggedIn(relay.port, "gus", gus);
    const results: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = crypto.getRandomValues(new Uint8Array(16));
      f.c.send({ t: "send", id, to: "gus", size: 10, senderKey: f.key, recipientSessionPub: g.session.publicKey, enc: new Uint8Array(32), kemCiphertext: new Uint8Array(MLKEM768_CT_LENGTH) });
      if (i < 2) results.push((await g.c.next((m) => m.t === "deliver")).t);
      else results.push(((await f.c.next((m) => m.t === "sendFailed")) as Extract<Message, { t: "sendFailed" }>).reason);
    }
    expect(results).toEqual(["deliver", "deliver", "rate-limited"]);
  });
});

describe("graceful shutdown", () => {
  test("SIGTERM: stop accepting, tell idle clients, let the transfer in flight finish, exit", async () => {
    const relay = await startRelay({ dataDir: s.path("relay-stop"), extra: ["--shutdown-grace", "25"] });
    const [hal, ivy, jon] = [await user(relay, "hal"), await user(relay, "ivy"), await user(relay, "jon")];
    const h = await loggedIn(relay.port, "hal", hal);
    const i = await loggedIn(relay.port, "ivy", ivy);
    const idle = await loggedIn(relay.port, "jon", jon);
    const id = crypto.getRandomValues(new Uint8Array(16));
    h.c.send({ t: "send", id, to: "ivy", size: 6, senderKey: h.key, recipientSessionPub: i.session.publicKey, enc: new Uint8Array(32), kemCiphertext: new Uint8Array(MLKEM768_CT_LENGTH) });
    await i.c.next((m) => m.t === "deliver");
    h.c.send({ t: "chunk", id, seq: 0, last: false, data: new Uint8Array(3) });
    await i.c.next((m) => m.t === "chunk");

    const t0 = Date.now();
    relay.proc.proc.kill("SIGTERM");
    expect(await idle.c.next((m) => m.t === "error")).toMatchObject({ code: "shutdown", reason: "the relay is shutting down" });
    // No new connections.
    const refused = await RawSocket.connect("127.0.0.1", relay.port).then(
      async (r) => (await r.waitClosed(), "closed"),
      () => "refused",
    );
    expect(["refused", "closed"]).toContain(refused);
    // The transfer goes on: the last chunk and the ACK pass, then both are told.
    h.c.send({ t: "chunk", id, seq: 1, last: true, data: new Uint8Array(3) });
    expect(await i.c.next((m) => m.t === "chunk")).toMatchObject({ t: "chunk", seq: 1, last: true });
    i.c.send({ t: "ack", id, status: "rejected", receipt: new Uint8Array(32) });
    expect(await h.c.next((m) => m.t === "ack")).toMatchObject({ t: "ack", status: "rejected" });
    expect(await h.c.next((m) => m.t === "error")).toMatchObject({ code: "shutdown" });
    expect(await i.c.next((m) => m.t === "error")).toMatchObject({ code: "shutdown" });
    expect(await relay.proc.proc.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000); // well before the 25 s deadline
    const log = readFileSync(join(relay.dataDir, "logs", `relay-${today()}.log`), "utf8");
    expect(log).toMatch(/info relay-stopping sessions=3 transfers=1 grace=25\n/);
    expect(log).not.toContain("shutdown-deadline");
    expect(log).toContain("info relay-stop\n");
  }, 40_000);

  test("a transfer that does not finish is cut at the deadline", async () => {
    const relay = await startRelay({ dataDir: s.path("relay-deadline"), extra: ["--shutdown-grace", "1"] });
    const [kim, lou] = [await user(relay, "kim"), await user(relay, "lou")];
    const k = await loggedIn(relay.port, "kim", kim);
    const l = await loggedIn(relay.port, "lou", lou);
    const id = crypto.getRandomValues(new Uint8Array(16));
    k.c.send({ t: "send", id, to: "lou", size: 100, senderKey: k.key, recipientSessionPub: l.session.publicKey, enc: new Uint8Array(32), kemCiphertext: new Uint8Array(MLKEM768_CT_LENGTH) });
    await l.c.next((m) => m.t === "deliver");
    relay.proc.proc.kill("SIGTERM");
    expect(await k.c.next((m) => m.t === "error", 10_000)).toMatchObject({ code: "shutdown" });
    expect(await relay.proc.proc.exited).toBe(0);
    const log = readFileSync(join(relay.dataDir, "logs", `relay-${today()}.log`), "utf8");
    expect(log).toMatch(/warn shutdown-deadline sessions=2 transfers=1\n/);
  }, 30_000);
});
