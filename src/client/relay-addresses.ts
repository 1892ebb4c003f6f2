// Where the client looks for its relay (SPEC.md §7.3): `--server` is one HOST:PORT or a
// comma-separated list (the nodes of a relay cluster), and a name with several A/AAAA
// records stands for each of them. Each round of attempts tries them all in random order,
// the address that just failed last.

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

export interface HostPort {
  host: string;
  port: number;
}

/** One address to try: what to connect to, and how to show it (status's `relay`). */
export interface Candidate {
  host: string;
  port: number;
  label: string;
}

const fmt = (host: string, port: number): string => `${host.includes(":") ? `[${host}]` : host}:${port}`;

export type Lookup = (name: string) => Promise<string[]>;

const systemLookup: Lookup = async (name) => (await lookup(name, { all: true })).map((a) => a.address);

/**
 * The addresses of one round, shuffled, `avoid` (a label) last. A name that resolves to
 * one address, or not at all, is kept as it is: connecting says what is wrong with it.
 */
export async function candidates(servers: HostPort[], avoid: string | undefined, random: () => number = Math.random, resolve: Lookup = systemLookup): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const s of servers) {
    let addrs: string[] = [];
    if (isIP(s.host) === 0) addrs = await resolve(s.host).catch(() => []);
    if (addrs.length > 1) for (const a of new Set(addrs)) out.push({ host: a, port: s.port, label: fmt(a, s.port) });
    else out.push({ host: s.host, port: s.port, label: fmt(s.host, s.port) });
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  const k = out.findIndex((c) => c.label === avoid);
  if (k >= 0 && out.length > 1) out.push(...out.splice(k, 1));
  return out;
}
