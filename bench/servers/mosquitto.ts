// The broker baseline: Debian's mosquitto, started by the benchmark on a loopback port with
// TLS, behind a throwaway CA and server certificate that openssl makes in a temp dir for
// this run only. Nagle is off as in smsg's sockets, persistence off as the relay stores
// nothing; otherwise mosquitto's defaults.

import { spawnSync } from "bun";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Child, waitForPort } from "../lib/procs.ts";

export const MOSQUITTO = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].find((p) => existsSync(p));

export interface Broker {
  child: Child;
  url: string;
  caFile: string;
  version: string;
  stop(): Promise<number>;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
}

/** A CA and a server certificate for 127.0.0.1, P-256, valid one day. */
export function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=smsg bench CA"], dir);
  openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], dir);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext"],
    dir,
  );
  return { ca: join(dir, "ca.crt"), cert: join(dir, "server.crt"), key: join(dir, "server.key") };
}

export async function startMosquitto(dir: string, port: number): Promise<Broker> {
  if (!MOSQUITTO) throw new Error("mosquitto is not installed (scripts/setup-system.sh installs it)");
  const certs = makeCertificates(dir);
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    [
      // Started as root, mosquitto would switch to its own user, who cannot read this dir.
      `user ${spawnSync(["id", "-un"]).stdout.toString().trim()}`,
      "persistence false",
      "log_dest stdout",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "set_tcp_nodelay true",
      "max_connections -1",
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      `cafile ${certs.ca}`,
      `certfile ${certs.cert}`,
      `keyfile ${certs.key}`,
      "",
    ].join("\n"),
  );
  const version = /mosquitto version (\S+)/.exec(spawnSync([MOSQUITTO, "-h"]).stdout.toString())?.[1] ?? "?";
  const child = new Child("mosquitto", [MOSQUITTO, "-c", conf]);
  // mosquitto buffers its log when stdout is a pipe: the open port is the sign it runs.
  await waitForPort(port, child);
  return { child, url: `mqtts://127.0.0.1:${port}`, caFile: certs.ca, version, stop: () => child.stop() };
}
