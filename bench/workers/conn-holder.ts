// Load generator for the connections figure (figure 2): holds many authenticated
// connections, each logged in and published (a signed session key, as the real client
// sends after login), with a heartbeat every 10 s (the real client's default period).
// When the relay goes away each connection comes back by itself with the real client's
// backoff (SPEC.md §7.3: 0.5 s x 2^attempt, jittered to 50-100 %, at most maxBackoff).
// Session keys are signed ahead of time: signing is the client's cost, not the relay's.
// Given `servers` (the nodes of a relay cluster), a connection moves between them as the
// real client does (src/client/relay-client.ts, SPEC.md §7.3): each round tries every
// address in random order, the one that just failed last, the next at once after a failed
// connect, and backs off only when a round is used up or a live connection was lost. The
// first round is in the given order, so that a figure can put every client on one node.
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
import { candidates, type Candidate } from "../../src/client/relay-addresses.ts";
import { serve, toRunner } from "../lib/worker.ts";
import { signSessionKey } from "../../src/protocol/keys.ts";
import { x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";
import { mlkemKeyGen } from "../../src/protocol/mlkem.ts";
import type { SignedSessionKey } from "../../src/protocol/messages.ts";

export interface ConnHolderConfig {
  t: "config";
  mode: "smsg" | "tcp";
  host: string;
  port: number;
  /** smsg: the addresses of every node, instead of host and port alone */
  servers?: { host: string; port: number }[];
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
  round: Candidate[]; // this round's addresses not tried yet
  lastFailed?: string;
  on?: string; // the address it is logged in at now
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
  const on: Record<string, number> = {};
  for (const h of holders) if (h.on) on[h.on] = (on[h.on] ?? 0) + 1;
  toRunner({ t: "all-in", phase, at: Date.now(), up, on });
}

async function connect(h: Holder): Promise<void> {
  const servers = c.servers ?? [{ host: c.host, port: c.port }];
  if (h.round.length === 0) {
    h.round = phase === 0 && h.lastFailed === undefined
      ? servers.map((s) => ({ ...s, label: `${s.host}:${s.port}` }))
      : await candidates(servers, h.lastFailed);
  }
  const at = h.round.shift()!;
  return BareClient.login({
    host: at.host,
    port: at.port,
    user: h.user.user,
    login: h.login,
    handlers: {
      onClose: () => {
        h.client = undefined;
        h.on = undefined;
        h.lastFailed = at.label;
        h.round = [];
        up--;
        if (!stopping) retry(h);
      },
    },
  }).then(
    (client) => {
      h.client = client;
      h.attempt = 0;
      h.on = at.label;
      // One key per expected login; the last one is used again (the relay accepts it).
      const key = h.keys.length > 1 ? h.keys.shift() : h.keys[0];
      if (!key) throw new Error("no session key left");
      client.post({ t: "publishKey", key });
      h.nextBeat = Date.now() + Math.random() * c.heartbeatMs;
      if (filled) counts.logins++;
      if (++up === holders.length) allUp();
    },
    () => {
      h.lastFailed = at.label;
      if (filled) counts.loginFailures++;
      // Another address of this round at once: a node down is no reason to wait.
      if (h.round.length > 0) void connect(h);
      else retry(h);
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

async function prepare(): Promise<void> {
  const seed = new Uint8Array(Buffer.from(c.identity.seed, "hex"));
  const identityPub = new Uint8Array(Buffer.from(c.identity.pub, "hex"));
  holders = [];
  for (const user of c.users) {
    const keys: SignedSessionKey[] = [];
    for (let i = 0; i < c.keysAhead; i++) {
      const session = x25519Generate();
      const kem = await mlkemKeyGen(); // the hybrid key's ML-KEM-768 half (SPEC.md §5.1), native
      const issuedAt = Date.now();
      keys.push({
        identityPub,
        sessionPub: session.publicKey,
        sessionKemPub: kem.encapsulationKey,
        issuedAt,
        sig: signSessionKey(seed, user.user, session.publicKey, kem.encapsulationKey, issuedAt),
      });
    }
    holders.push({ user, login: loginKey(user), keys, attempt: 0, nextBeat: 0, round: [] });
  }
}

serve(async (m) => {
  if (m.t === "config") {
    c = m as unknown as ConnHolderConfig;
    if (c.mode === "smsg") await prepare();
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
