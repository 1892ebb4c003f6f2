// Real NATS servers for the relay cluster tests (test/cluster/): Debian's nats-server with
// JetStream, on free loopback ports, always with authentication: the relays' user may use
// only smsg's subjects, its KV bucket and the JetStream API calls on that bucket. A cluster
// of three has fixed route ports, picked free first, as JetStream clusters need.

import { spawn, type Subprocess } from "bun";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./harness.ts";

export const NATS_USER = "smsg";
export const NATS_PASSWORD = "relay-nodes-secret";

/** What the relays' NATS user may do: smsg's subjects, its bucket, and replies to its requests. */
export const RELAY_PERMISSIONS = `{
      publish: ["smsg.>", "$KV.smsg.>", "$KV.smsg_mail.>", "$JS.API.INFO", "$JS.API.STREAM.INFO.KV_smsg", "$JS.API.STREAM.CREATE.KV_smsg",
                "$JS.API.STREAM.MSG.GET.KV_smsg", "$JS.API.DIRECT.GET.KV_smsg.>", "$JS.API.CONSUMER.CREATE.KV_smsg", "$JS.API.CONSUMER.CREATE.KV_smsg.>",
                "$JS.API.CONSUMER.DELETE.KV_smsg.>", "$JS.API.CONSUMER.INFO.KV_smsg.>", "$JS.ACK.KV_smsg.>",
                "$JS.API.STREAM.INFO.KV_smsg_mail", "$JS.API.STREAM.CREATE.KV_smsg_mail", "$JS.API.STREAM.MSG.GET.KV_smsg_mail",
                "$JS.API.DIRECT.GET.KV_smsg_mail.>", "$JS.API.CONSUMER.CREATE.KV_smsg_mail", "$JS.API.CONSUMER.CREATE.KV_smsg_mail.>",
                "$JS.API.CONSUMER.DELETE.KV_smsg_mail.>", "$JS.API.CONSUMER.INFO.KV_smsg_mail.>", "$JS.ACK.KV_smsg_mail.>", "$JS.FC.KV_smsg_mail.>", "_INBOX.>"],
      subscribe: ["smsg.>", "$KV.smsg.>", "$KV.smsg_mail.>", "_INBOX.>"]
    }`;

/** A free TCP port on loopback now (a fixed port for a NATS route or client listener). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export interface NatsServer {
  name: string;
  port: number;
  url: string;
  /** Its config file: rewrite it and send SIGHUP to reload. */
  conf: string;
  proc: Subprocess;
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Start one nats-server; resolves when it says it is ready. */
export async function startNats(opts: {
  dir: string;
  name?: string;
  port?: number;
  cluster?: { port: number; routes: number[] };
  tls?: TlsFiles;
  password?: string;
  /** The largest message the server takes, in bytes (NATS's default is 1 MiB). */
  maxPayload?: number;
  /** More entries of the users array, as nats-server config text. */
  extraUsers?: string;
}): Promise<NatsServer> {
  const name = opts.name ?? "n1";
  const port = opts.port ?? freePort();
  const store = join(opts.dir, `js-${name}`);
  mkdirSync(store, { recursive: true });
  const conf = join(opts.dir, `${name}.conf`);
  const cluster = opts.cluster
    ? `cluster { name: smsgtest, listen: 127.0.0.1:${opts.cluster.port}, routes: [${opts.cluster.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ")}] }`
    : "";
  const tls = opts.tls ? `tls { cert_file: "${opts.tls.cert}", key_file: "${opts.tls.key}", ca_file: "${opts.tls.ca}" }` : "";
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${port}
server_name: ${name}
${opts.maxPayload ? `max_payload: ${opts.maxPayload}` : ""}
jetstream { store_dir: "${store}", max_memory_store: 64MB, max_file_store: 256MB }
${cluster}
${tls}
authorization {
  users = [
    { user: ${NATS_USER}, password: "${opts.password ?? NATS_PASSWORD}", permissions: ${RELAY_PERMISSIONS} }
    ${opts.extraUsers ?? ""}
  ]
}
`,
  );
  const proc = spawn(["nats-server", "-c", conf], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const lines: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const c of s) lines.push(...dec.decode(c).split("\n"));
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  // A clustered server is ready for JetStream only once its peers elect a leader: the
  // callers wait for that through the relays' own connect.
  await waitFor(`nats-server ${name} to be ready\n${lines.join("\n")}`, () => lines.some((l) => l.includes("Server is ready")), 20_000);
  return {
    name,
    port,
    url: `${opts.tls ? "tls" : "nats"}://127.0.0.1:${port}`,
    conf,
    proc,
    lines,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null) {
        proc.kill("SIGCONT");
        proc.kill(signal);
      }
      return proc.exited;
    },
  };
}

/** Three nats-servers routed to each other, with JetStream: fixed ports, picked free first. */
export async function startNatsCluster(dir: string): Promise<NatsServer[]> {
  const ports = [freePort(), freePort(), freePort()];
  const routes = [freePort(), freePort(), freePort()];
  return Promise.all(
    [0, 1, 2].map((i) => startNats({ dir, name: `n${i + 1}`, port: ports[i], cluster: { port: routes[i]!, routes: routes.filter((_, j) => j !== i) } })),
  );
}

/** A throwaway CA and a server certificate for 127.0.0.1, made by openssl. */
export async function makeCa(dir: string): Promise<TlsFiles> {
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const cert = join(dir, "server.pem");
  const ext = join(dir, "san.ext");
  mkdirSync(dir, { recursive: true });
  writeFileSync(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const run = async (args: string[]) => {
    const p = spawn(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${err}`);
  };
  await run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=smsg test CA"]);
  await run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"]);
  await run(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]);
  return { ca, cert, key };
}

/** Wait until JetStream answers the relays' user on these servers (a new cluster elects a leader first). */
export async function waitJetStream(urls: string[], tls?: TlsFiles): Promise<void> {
  const { connect } = await import("@nats-io/transport-node");
  const { jetstreamManager } = await import("@nats-io/jetstream");
  await waitFor("JetStream to answer", async () => {
    const nc = await connect({ servers: urls, user: NATS_USER, pass: NATS_PASSWORD, tls: tls ? { caFile: tls.ca } : undefined, timeout: 2000 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2000 });
      await jsm.getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  }, 30_000, 250);
}
