// Load generator for the handshake rate (figure 3): a fixed number of loops, each
// connecting, doing the full login (Noise_XXhfs with a random X25519 login key, LOGIN_RESULT
// after the relay's directory check) and closing, again and again; its ML-KEM e1 and X25519
// e keys come from pools made beforehand (below). In "tcp" mode the same
// loops exchange the same record sizes with bench/servers/tcp-handshake.ts, no crypto:
// what connection churn alone costs on this machine.

import { BareClient } from "../lib/bare-client.ts";
import { NATIVE_KEM, type HandshakeKem } from "../../src/protocol/noise.ts";
import { mlkemEphemeral, type MlkemEphemeral } from "../../src/protocol/mlkem.ts";
import { x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";
import { loginKey, type BenchUser } from "../lib/users.ts";
import { serve, toRunner } from "../lib/worker.ts";
import { RateWindow } from "./rate-window.ts";

export interface LoginChurnConfig {
  t: "config";
  mode: "smsg" | "tcp";
  host: string;
  port: number;
  users: BenchUser[];
  concurrency: number;
}

/** Record sizes of a login with a short user id, framing included (SPEC.md §3.1). */
const MSG1 = 2 + 1221;
const MSG2 = 2 + 1213;
const MSG3 = 2 + 65 + 3;
const RESULT = 2 + 20;

const win = new RateWindow();
let running = false;

// One key pair object per user, as a real client keeps its login key: its native key
// object is then made once (primitives.ts), not at every login of the generator.
const keys = new Map<string, ReturnType<typeof loginKey>>();

/**
 * The generator's ML-KEM e1 keys, made before the measured window and used in turn: a key
 * generation per login (about 80 us) is the generator's cost, not the relay's, and on two
 * shared cores it took CPU from the relay being measured. The relay cannot tell: it
 * encapsulates to whatever e1 arrives. Only here; the real client makes a fresh e1 for
 * every handshake (SPEC.md §3.1).
 */
const E1_POOL = 256;
let pool: MlkemEphemeral[] = [];
let next = 0;
const pooledKem: HandshakeKem = {
  ...NATIVE_KEM,
  generate: async () => pool[next++ % pool.length]!,
};

/**
 * The same for the X25519 ephemeral key e (a key generation, about 25 us, is a scalar
 * multiplication and a key import): each pooled pair's native key object is made once
 * (primitives.ts), so a login costs the generator only the DHs and the decapsulation the
 * protocol needs. The relay still sees a key it has to import and multiply by, as ever.
 */
const E_POOL = 256;
let ePool: KeyPair[] = [];
let eNext = 0;

async function smsgLogin(c: LoginChurnConfig, u: BenchUser): Promise<void> {
  let login = keys.get(u.user);
  if (!login) keys.set(u.user, (login = loginKey(u)));
  const e = ePool[eNext++ % ePool.length];
  const client = await BareClient.login({ host: c.host, port: c.port, user: u.user, login, kem: pooledKem, e });
  client.close();
}

function tcpLogin(c: LoginChurnConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    Bun.connect({
      hostname: c.host,
      port: c.port,
      socket: {
        open(s) {
          s.write(new Uint8Array(MSG1));
        },
        data(s, d) {
          got += d.length;
          if (got === MSG2) s.write(new Uint8Array(MSG3));
          else if (got === MSG2 + RESULT) {
            s.end();
            resolve();
          }
        },
        close() {
          if (got < MSG2 + RESULT) reject(new Error("closed early"));
        },
        connectError(_s, e) {
          reject(e);
        },
      },
    }).catch(reject);
  });
}

async function loop(c: LoginChurnConfig, k: number): Promise<void> {
  let i = k;
  while (running) {
    const u = c.users[i % Math.max(1, c.users.length)]!;
    i += c.concurrency;
    const t0 = performance.now();
    try {
      await (c.mode === "smsg" ? smsgLogin(c, u) : tcpLogin(c));
      win.arrived(t0);
    } catch {
      win.failures++;
    }
  }
}

let config: LoginChurnConfig | undefined;
serve(async (m) => {
  if (m.t === "config") {
    config = m as unknown as LoginChurnConfig;
    if (config.mode === "smsg") {
      pool = await Promise.all(Array.from({ length: E1_POOL }, () => mlkemEphemeral()));
      ePool = Array.from({ length: E_POOL }, () => x25519Generate());
    }
    toRunner({ t: "ready" });
  } else if (m.t === "go") {
    const c = config!;
    running = true;
    const loops = Array.from({ length: c.concurrency }, (_, k) => loop(c, k));
    await win.run(Number(m.warmupMs), Number(m.measureMs));
    running = false;
    await Promise.all(loops);
    toRunner(win.result());
  }
});
