// Load generator for the connections figure (issue 6, figure 2): holds many authenticated
// connections, each logged in and published (a signed session key, as the real client
// sends after login), with a heartbeat every 10 s (the real client's default period).
// When the relay goes away each connection comes back by itself with the real client's
// backoff (SPEC.md §8.4: 0.5 s x 2^attempt, jittered to 50-100 %, at most maxBackoff).
// Session keys are signed ahead of time: signing is the client's cost, not the relay's.
//
// In "tcp" mode it opens plain connections that send nothing, for the baseline of what an
// idle socket costs a Bun server.
//
// The soak (bench/soak.ts) also sends "churn" (close N connections that are up: each logs in
// again by itself, as a client that went away and came back) and "counts" (how many are up,
// logins since the first fill, failed login attempts).

import type { Socket } from "bun";
import { BareClient } from "../lib/bare-client.ts";
import { loginKey, type BenchUser } from "../lib/users.ts";
import { serve, toRunner } from "../lib/worker.ts";
import { signSessionKey } from "../../src/protocol/keys.ts";
import { x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";
import type { SignedSessionKey } from "../../src/protocol/messages.ts";

export interface ConnHolderConfig {
  t: "config";
  mode: "smsg" | "tcp";
  host: string;
  port: number;
  users: BenchUser[]; // smsg: one connection each
  count: number; // tcp: how many connections
  identity: { seed: string; pub: string };
  concurrency: number; // logins in flight during the first fill
  heartbeatMs: number;
  maxBackoffMs: number;
  /** session keys to sign ahead, per connection: one per expected login */
  keysAhead: number;
}

interface Holder {
  user: BenchUser;
  login: KeyPair;
  keys: SignedSessionKey[];
  client?: BareClient;
  attempt: number;
  nextBeat: number;
}

let c: ConnHolderConfig;
let holders: Holder[] = [];
let up = 0; // logged in and published now
let phase = 0; // how many times all have been up
let stopping = false;
let filled = false; // the first fill is done: logins after it are churn
const counts = { logins: 0, loginFailures: 0 };
const sockets: Socket<unknown>[] = [];

function allUp(): void {
  phase++;
  toRunner({ t: "all-in", phase, at: Date.now(), up });
}

function connect(h: Holder): Promise<void> {
  return BareClient.login({
    host: c.host,
    port: c.port,
    user: h.user.user,
    login: h.login,
    handlers: {
      onClose: () => {
        h.client = undefined;
        up--;
        if (!stopping) retry(h);
      },
    },
  }).then(
    (client) => {
      h.client = client;
      h.attempt = 0;
      // One key per expected login; the last one is used again (the relay accepts it).
      const key = h.keys.length > 1 ? h.keys.shift() : h.keys[0];
      if (!key) throw new Error("no session key left");
      client.post({ t: "publishKey", key });
      h.nextBeat = Date.now() + Math.random() * c.heartbeatMs;
      if (filled) counts.logins++;
      if (++up === holders.length) allUp();
    },
    () => {
      if (filled) counts.loginFailures++;
      retry(h);
    },
  );
}

function retry(h: Holder): void {
  const base = Math.min(c.maxBackoffMs, 500 * 2 ** h.attempt);
  h.attempt = Math.min(h.attempt + 1, 20);
  setTimeout(() => void connect(h), Math.round(base * (0.5 + Math.random() / 2)));
}

function heartbeats(): void {
  const now = Date.now();
  for (const h of holders) {
    if (h.client && !h.client.closed && now >= h.nextBeat) {
      h.client.post({ t: "heartbeat" });
      h.nextBeat = now + c.heartbeatMs;
    }
  }
}

async function fillSmsg(): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < holders.length) await connect(holders[next++]!);
  };
  await Promise.all(Array.from({ length: c.concurrency }, lane));
  filled = true;
  setInterval(heartbeats, 100);
}

/** Close n connections that are up, chosen at random; each comes back by itself. */
function churn(n: number): void {
  const live = holders.filter((h) => h.client && !h.client.closed);
  for (let i = 0; i < n && live.length > 0; i++) {
    const j = Math.floor(Math.random() * live.length);
    live[j]!.client!.close();
    live[j] = live[live.length - 1]!;
    live.pop();
  }
}

async function fillTcp(): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < c.count) {
      next++;
      sockets.push((await Bun.connect({ hostname: c.host, port: c.port, socket: { data() {} } })) as Socket<unknown>);
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, lane));
  up = sockets.length;
  allUp();
}

function prepare(): void {
  const seed = new Uint8Array(Buffer.from(c.identity.seed, "hex"));
  const identityPub = new Uint8Array(Buffer.from(c.identity.pub, "hex"));
  holders = c.users.map((user) => {
    const keys: SignedSessionKey[] = [];
    for (let i = 0; i < c.keysAhead; i++) {
      const session = x25519Generate();
      const issuedAt = Date.now();
      keys.push({ identityPub, sessionPub: session.publicKey, issuedAt, sig: signSessionKey(seed, user.user, session.publicKey, issuedAt) });
    }
    return { user, login: loginKey(user), keys, attempt: 0, nextBeat: 0 };
  });
}

serve(async (m) => {
  if (m.t === "config") {
    c = m as unknown as ConnHolderConfig;
    if (c.mode === "smsg") prepare();
    toRunner({ t: "ready" });
  } else if (m.t === "go") {
    await (c.mode === "smsg" ? fillSmsg() : fillTcp());
  } else if (m.t === "churn") {
    churn(Number(m.n));
  } else if (m.t === "counts") {
    toRunner({ t: "counts", up, ...counts });
  } else if (m.t === "stop") {
    stopping = true;
    for (const h of holders) h.client?.close();
    for (const s of sockets) s.end();
    toRunner({ t: "stopped" });
  }
});
