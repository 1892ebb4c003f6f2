// `smsg demo --cluster` (README "A cluster of relays"): a NATS server with JetStream and a
// password of its own, two relay nodes on it sharing one relay key, and alice and bob on
// different nodes, all on loopback in a temporary folder, for a newcomer to try.

import { spawn, type Subprocess } from "bun";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startRelay, type Relay } from "./server/relay.ts";
import { loadOrCreateRelayKey } from "./server/relay-key.ts";
import { streamLog } from "./server/log.ts";
import { CliError } from "./cli/cli-error.ts";

export interface ClusterDemo {
  relays: Relay[];
  nats: Subprocess;
  natsUrl: string;
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export async function startClusterDemo(dir: string): Promise<ClusterDemo> {
  if (!Bun.which("nats-server")) throw new CliError("smsg demo --cluster needs nats-server, which is not installed (Debian: apt-get install nats-server)");
  const password = randomBytes(12).toString("base64url");
  const port = freePort();
  const natsDir = join(dir, "nats");
  mkdirSync(natsDir, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(natsDir, "nats.conf"),
    `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(natsDir, "js")}" }\nauthorization { users = [ { user: smsg, password: "${password}" } ] }\n`,
    { mode: 0o600 },
  );
  writeFileSync(join(natsDir, "password"), password + "\n", { mode: 0o600 });
  const nats = spawn(["nats-server", "-c", join(natsDir, "nats.conf")], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  const natsUrl = `nats://127.0.0.1:${port}`;
  const relays: Relay[] = [];
  try {
    for (const node of ["node1", "node2"]) {
      const dataDir = join(dir, node);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      // One relay key for the cluster: the second node gets the first's, as README says.
      if (relays.length > 0) copyFileSync(join(dir, "node1", "relay-key"), join(dataDir, "relay-key"));
      else loadOrCreateRelayKey(dataDir);
      const cluster = { servers: [natsUrl], node, user: "smsg", passwordFile: join(natsDir, "password"), replicas: 1 };
      // nats-server takes a moment to listen: the first node tries for a few seconds.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          relays.push(await startRelay({ listen: [{ host: "127.0.0.1", port: 0 }], dataDir, log: streamLog(() => {}), cluster }));
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await Bun.sleep(200);
        }
      }
    }
  } catch (e) {
    for (const r of relays) await r.stop(0);
    nats.kill();
    throw new CliError(`the cluster demo could not start: ${(e as Error).message}`);
  }
  return {
    relays,
    nats,
    natsUrl,
    async stop() {
      for (const r of relays) await r.stop(2);
      nats.kill();
      await nats.exited;
    },
  };
}
