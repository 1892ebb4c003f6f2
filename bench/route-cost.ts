// What routing a message between two cluster nodes costs (bench/README.md, "What a cluster
// of N nodes carries"): two NatsHubs in this one process on a real nats-server, PAIRS
// senders on node A each keeping WINDOW messages in flight to a recipient on node B. Each
// message is a DELIVER and a last CHUNK of 1 KiB from A to B and an ACK back, as the relay
// routes them (SPEC.md §11.5); the ends are stand-ins for sessions, so the figure is the
// hubs' and the NATS client's cost alone. Each round runs both ways of publishing, each
// routed message alone (as before batches) and batched per turn (SPEC.md §11.2), one after
// the other; the CPU figure of each is the least of its rounds (the one others disturbed
// least). Not part of `npm run bench`: a tool to find and check cuts.
//
// usage: bun bench/route-cost.ts [MESSAGES] [ROUNDS] [PAIRS] [WINDOW]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer } from "./figures/cluster.ts";
import { NatsHub } from "../src/server/cluster/nats-hub.ts";
import { RemoteEnd } from "../src/server/cluster/remote-end.ts";
import { silentLog } from "../src/server/log.ts";
import { idHex } from "../src/protocol/messages.ts";
import { openTransfer, standInCore, StandInEnd } from "../test/support/stand-in-hub.ts";

const messages = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const pairs = Number(process.argv[4] ?? 50);
const inFlight = Number(process.argv[5] ?? 8);
const PAYLOAD = 1024;

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

async function run(url: string, batch: boolean, tag: string): Promise<{ rate: number; cpuUs: number; natsPerMsg: number }> {
  const conn = (): Promise<NatsConnection> => connect({ servers: [url], user: "smsg", pass: "bench-nats-password" });
  const [ncA, ncB] = [await conn(), await conn()];
  const a = new NatsHub(ncA, `a${tag}`, silentLog, { batch });
  const b = new NatsHub(ncB, `b${tag}`, silentLog, { batch });
  a.bind(standInCore);
  b.bind(standInCore);
  let done = 0;
  let sent = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((r) => (finished = r));
  const senders: StandInEnd[] = [];
  const data = randomBytes(PAYLOAD);

  const sendOne = (from: StandInEnd, i: number): void => {
    const to = a.find(`bob${i}`);
    if (!(to instanceof RemoteEnd)) throw new Error(`bob${i} is not on node b`);
    const { id } = openTransfer(from, to, PAYLOAD, randomBytes(16));
    // The sender's own key, as the relay requires of a SEND (SPEC.md §6.2): so it may cross as DELIVER_REF.
    to.post({ t: "deliver", id, from: from.user, size: PAYLOAD, senderKey: from.sessionKey!, recipientSessionPub: to.sessionKey!.sessionPub, enc: randomBytes(32), kemCiphertext: randomBytes(1088) });
    to.post({ t: "chunk", id, seq: 0, last: true, data });
    sent++;
  };

  for (let i = 0; i < pairs; i++) {
    const bob: StandInEnd = new StandInEnd(`bob${i}`, (m) => {
      if (m.t !== "chunk" || !m.last) return;
      const t = bob.incoming.get(idHex(m.id))!;
      standInCore.endTransfer(t);
      t.from.post({ t: "ack", id: m.id, status: "stored", receipt: new Uint8Array(32) });
    });
    b.attach(bob);
    const alice: StandInEnd = new StandInEnd(`alice${i}`, (m) => {
      if (m.t !== "ack") return;
      if (++done === messages) finished();
      if (sent < messages) sendOne(alice, i);
    });
    a.attach(alice);
    senders.push(alice);
  }
  await waitFor("node a to see every recipient on node b", () => senders.every((_, i) => a.find(`bob${i}`) instanceof RemoteEnd));
  // Node b drops what a node it has not heard of routes to it (SPEC.md §11.4).
  await waitFor("node b to hear of node a", () => b.nodes().includes(a.node));

  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const out0 = ncA.stats().outMsgs + ncB.stats().outMsgs; // heartbeats too: 2 a second
  for (let w = 0; w < inFlight; w++) for (let i = 0; i < pairs && sent < messages; i++) sendOne(senders[i]!, i);
  let seen = -1;
  const stall = setInterval(() => {
    if (done === seen) console.log(`  stalled: ${done} of ${messages} acked, ${sent} sent`);
    seen = done;
  }, 5000);
  await allDone;
  clearInterval(stall);
  const cpu = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  const natsMsgs = ncA.stats().outMsgs + ncB.stats().outMsgs - out0;
  a.stop();
  b.stop();
  await Promise.all([ncA.close(), ncB.close()]);
  return { rate: (messages / wall) * 1000, cpuUs: (cpu.user + cpu.system) / messages, natsPerMsg: natsMsgs / messages };
}

const dir = mkdtempSync(join(tmpdir(), "route-cost-"));
const nats = await startNatsServer(dir);
try {
  console.log(`route-cost: ${messages} messages, ${pairs} pairs, ${inFlight} in flight each, ${rounds} rounds; load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  await run(nats.url, true, "w"); // warm the JIT for both ways
  const best = { single: { rate: 0, cpuUs: Infinity }, batch: { rate: 0, cpuUs: Infinity } };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ["single", "batch"] as const) {
      const x = await run(nats.url, mode === "batch", `${r}${mode[0]}`);
      console.log(`  round ${r + 1} ${mode.padEnd(6)} ${x.rate.toFixed(0).padStart(7)} msg/s  ${x.cpuUs.toFixed(1).padStart(6)} us CPU/msg (both nodes)  ${x.natsPerMsg.toFixed(2)} NATS msgs/msg`);
      best[mode].rate = Math.max(best[mode].rate, x.rate);
      best[mode].cpuUs = Math.min(best[mode].cpuUs, x.cpuUs);
    }
  }
  console.log(`best: single ${best.single.cpuUs.toFixed(1)} us/msg ${best.single.rate.toFixed(0)} msg/s; batch ${best.batch.cpuUs.toFixed(1)} us/msg ${best.batch.rate.toFixed(0)} msg/s; CPU ratio ${(best.batch.cpuUs / best.single.cpuUs).toFixed(2)}x; load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
} finally {
  await nats.child.stop();
  rmSync(dir, { recursive: true, force: true });
}
