// Where the relay's CPU per login goes (bench/README.md, "The hybrid handshake"): full
// Noise_XXhfs logins run in one process, client and relay side by side over no socket, and
// the relay's two steps (readFirst, readLogin) are timed apart from the client's; then the
// primitives a login is made of, each on its own. Not part of `npm run bench`: a tool to
// find and check cuts, comparing figures taken in the same run.
//
// usage: bun bench/handshake-profile.ts [LOGINS] [ROUNDS]
//
// Each phase is run ROUNDS times and its least CPU time kept: on a shared machine the
// least is the figure other processes disturbed least.

import { ClientHandshake, RelayHandshake } from "../src/protocol/handshake.ts";
import { sha256, hkdfSha256, hmacSha256, x25519, x25519Generate, aesGcmSeal, aesGcmOpen } from "../src/protocol/primitives.ts";
import { copyBytes } from "../src/protocol/bytes.ts";
import { mlkemEncaps, mlkemEphemeral } from "../src/protocol/mlkem.ts";

const logins = Number(process.argv[2] ?? 3000);
const rounds = Number(process.argv[3] ?? 3);
const warmup = Math.max(200, logins / 10);

const relayKey = x25519Generate();
const loginKeys = Array.from({ length: 64 }, () => x25519Generate());

function us(ms: number, n: number): string {
  return ((ms * 1000) / n).toFixed(1).padStart(7);
}

/** Process CPU (all threads: the runtime's ML-KEM may run off the main thread) and wall time. */
function clock(): { cpu: NodeJS.CpuUsage; wall: number } {
  return { cpu: process.cpuUsage(), wall: performance.now() };
}
function since(t: { cpu: NodeJS.CpuUsage; wall: number }): { cpuMs: number; wallMs: number } {
  const d = process.cpuUsage(t.cpu);
  return { cpuMs: (d.user + d.system) / 1000, wallMs: performance.now() - t.wall };
}

/** A record as the relay's socket hands it over: a view into the Buffer of one read (framing.ts). */
function asRead(record: Uint8Array): Uint8Array {
  const read = Buffer.alloc(record.length + 2);
  read.set(record, 2);
  return read.slice(2);
}

type Phase = { cpuMs: number; wallMs: number };

/**
 * n logins in four phases, each over all n at once so that each is timed alone with the
 * process's CPU clock: the clients' first records, the relay's readFirst of each, the
 * clients' reading of message 2 and their message 3, the relay's readLogin of each.
 */
async function handshakes(n: number): Promise<{ relayFirst: Phase; relayLogin: Phase; client: Phase }> {
  let t = clock();
  const clients = Array.from({ length: n }, (_, i) => new ClientHandshake({ login: loginKeys[i % loginKeys.length]! }));
  const firsts: Uint8Array[] = [];
  for (const c of clients) firsts.push(asRead(await c.start()));
  const client1 = since(t);

  t = clock();
  const relays: RelayHandshake[] = [];
  const answers: Uint8Array[] = [];
  for (const first of firsts) {
    const r = new RelayHandshake({ relayKey, maxMessageBytes: 1 << 20, heartbeatTimeout: 60 });
    const answer = await r.readFirst(first);
    if (answer.kind !== "message2") throw new Error("no message 2");
    relays.push(r);
    answers.push(answer.record);
  }
  const relayFirst = since(t);

  t = clock();
  const thirds: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    await clients[i]!.readReply(asRead(answers[i]!), relayKey.publicKey);
    thirds.push(asRead(clients[i]!.login("user" + (i % 64)).record));
  }
  const client2 = since(t);

  t = clock();
  for (let i = 0; i < n; i++) {
    if (relays[i]!.readLogin(thirds[i]!).user !== "user" + (i % 64)) throw new Error("wrong user");
  }
  const relayLogin = since(t);
  return { relayFirst, relayLogin, client: { cpuMs: client1.cpuMs + client2.cpuMs, wallMs: client1.wallMs + client2.wallMs } };
}

function show(name: string, p: Phase, n: number): void {
  console.log(`  ${name.padEnd(44)} ${us(p.cpuMs, n)} us CPU  ${us(p.wallMs, n)} us wall`);
}

async function timeOp(name: string, n: number, op: () => unknown): Promise<void> {
  for (let i = 0; i < Math.min(n, 200); i++) await op();
  const t = clock();
  for (let i = 0; i < n; i++) await op();
  const d = since(t);
  console.log(`  ${name.padEnd(44)} ${us(d.cpuMs, n)} us CPU  ${us(d.wallMs, n)} us wall`);
}

await handshakes(warmup);
const runs: Awaited<ReturnType<typeof handshakes>>[] = [];
for (let r = 0; r < rounds; r++) runs.push(await handshakes(logins));
const least = (pick: (h: Awaited<ReturnType<typeof handshakes>>) => Phase): Phase => runs.map(pick).reduce((a, b) => (b.cpuMs < a.cpuMs ? b : a));
const h = { relayFirst: least((x) => x.relayFirst), relayLogin: least((x) => x.relayLogin), client: least((x) => x.client) };
console.log(`${logins} logins in one process, least of ${rounds} rounds (after ${warmup} of warm-up), load ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")}`);
show("relay readFirst (message 1 -> message 2)", h.relayFirst, logins);
show("relay readLogin (message 3)", h.relayLogin, logins);
show("relay per login", { cpuMs: h.relayFirst.cpuMs + h.relayLogin.cpuMs, wallMs: h.relayFirst.wallMs + h.relayLogin.wallMs }, logins);
show("client per login", h.client, logins);

console.log("primitives (one call each):");
const n = Math.max(1000, logins);
const peer = x25519Generate();
const ek = (await mlkemEphemeral()).encapsulationKey;
const k32 = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(12);
const small = new Uint8Array(64);
const sealed = aesGcmSeal(k32, nonce, k32, small);
const big = new Uint8Array(1184);
await timeOp("x25519Generate", n, () => x25519Generate());
await timeOp("x25519 (static key, cached key objects)", n, () => x25519(relayKey.secretKey, peer.publicKey));
await timeOp("x25519 (fresh peer public key)", n, () => x25519(relayKey.secretKey, Uint8Array.from(peer.publicKey)));
await timeOp("mlkemEncaps (import ek + encapsulate)", n, () => mlkemEncaps(ek));
await timeOp("mlkemEphemeral (client key generation)", n, () => mlkemEphemeral());
await timeOp("sha256 (32 + 1184 bytes)", n, () => sha256(k32, big));
await timeOp("hmacSha256 (32-byte key, 32 bytes)", n, () => hmacSha256(k32, k32));
await timeOp("aesGcmSeal (64 bytes)", n, () => aesGcmSeal(k32, nonce, k32, small));
await timeOp("aesGcmOpen (64 bytes)", n, () => aesGcmOpen(k32, nonce, k32, sealed));
const read = asRead(big);
const empty = new Uint8Array(0);
await timeOp("Noise HKDF, 2 outputs, as three HMACs", n, () => {
  const temp = hmacSha256(k32, k32);
  const o1 = hmacSha256(temp, Uint8Array.of(1));
  return hmacSha256(temp, o1, Uint8Array.of(2));
});
await timeOp("Noise HKDF, 2 outputs, hkdfSha256", n, () => hkdfSha256(k32, k32, empty, 64));
await timeOp("Uint8Array.from (a Buffer's 1184 bytes)", n, () => Uint8Array.from(read));
await timeOp("copyBytes (a Buffer's 1184 bytes)", n, () => copyBytes(read));
