// What one attacker costs the relay (SECURITY.md §14, finding 12): one process on one address
// floods new handshakes, each connection sending the 1,223 constant bytes of a first record and
// waiting for an answer or a close, many loops at once. The relay is `smsg relay` itself,
// once with the handshake limit lifted (what every relay did before it existed) and once with
// its defaults (20 per second, 200 at once); the relay's CPU over the window is the cost.
//
// usage: bun bench/handshake-flood.ts [SECONDS] [LOOPS]     (bench/README.md, "One attacker")

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, Child, MAIN, cpuSeconds, freePort } from "./lib/procs.ts";
import { concat } from "../src/protocol/bytes.ts";
import { FIRST_RECORD_LENGTH, PREAMBLE } from "../src/protocol/handshake.ts";
import { mlkemKeyGen } from "../src/protocol/mlkem.ts";
import { recordHeader } from "../src/protocol/framing.ts";

const seconds = Number(process.argv[2] ?? 5);
const loops = Number(process.argv[3] ?? 32);

/**
 * 2-byte length, preamble, a fixed X25519 ephemeral key and one ML-KEM-768 key e1 made once:
 * the same 1,223 bytes every time, each costing the relay a key generation, two X25519 and
 * an encapsulation before its message 2 (SPEC.md §3.1).
 */
const MSG1 = concat(recordHeader(FIRST_RECORD_LENGTH), PREAMBLE, new Uint8Array(32).fill(9), (await mlkemKeyGen()).encapsulationKey);

interface Count {
  answered: number;
  refused: number;
}

function once(port: number, n: Count): Promise<void> {
  return new Promise((done) => {
    let answered = false;
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => void s.write(MSG1),
        data: (s) => {
          answered = true;
          s.end();
        },
        close: () => {
          if (answered) n.answered++;
          else n.refused++;
          done();
        },
        connectError: () => {
          n.refused++;
          done();
        },
      },
    }).catch(() => {
      n.refused++;
      done();
    });
  });
}

async function flood(port: number, ms: number): Promise<Count> {
  const n: Count = { answered: 0, refused: 0 };
  const end = Date.now() + ms;
  await Promise.all(Array.from({ length: loops }, async () => {
    while (Date.now() < end) await once(port, n);
  }));
  return n;
}

async function measure(label: string, extra: string[]): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), "smsg-flood-"));
  const port = freePort();
  const relay = new Child("relay", [BUN, MAIN, "relay", "--data", data, "--listen", `127.0.0.1:${port}`, ...extra], { keepLines: 20 });
  try {
    await relay.line(/^listening on /);
    await flood(port, 1000); // warm-up: the JIT, and the bucket's burst spent
    const cpu0 = cpuSeconds(relay.pid);
    const t0 = performance.now();
    const n = await flood(port, seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(relay.pid) - cpu0;
    console.log(
      `${label}: relay CPU ${((cpu / wall) * 100).toFixed(0)} % of a core; ` +
        `${(n.answered / wall).toFixed(0)} handshakes answered/s, ${(n.refused / wall).toFixed(0)} connections refused/s; ` +
        `${((cpu * 1e6) / Math.max(1, n.answered + n.refused)).toFixed(0)} us of relay CPU per connection`,
    );
  } finally {
    await relay.stop();
    rmSync(data, { recursive: true, force: true });
  }
}

await measure("limit lifted (as before)", ["--handshakes-per-second", "1000000", "--handshakes-burst", "1000000"]);
await measure("default limit (20/s, burst 200)", []);
