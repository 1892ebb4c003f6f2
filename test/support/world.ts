// The setup most integration tests share: a relay in a Scratch folder, users registered on it
// with password files, and their clients started through the CLI and waited connected.
// Everything it starts is tracked by the Scratch, so the test file's s.cleanup() ends it.

import { randomBytes } from "node:crypto";
import {
  passwordFile,
  register,
  startClient,
  startRelay,
  waitConnected,
  type ClientHandle,
  type RelayHandle,
  type Scratch,
} from "./harness.ts";

export interface WorldOptions {
  /** Registered on the relay (in parallel), each with a password file under pw/. */
  users: string[];
  /** Of those, the ones whose client is not started (default: every user's is, in parallel). */
  idle?: string[];
  /** A user's password (default: `USER pw` and 8 random hex digits). */
  password?: (user: string) => string;
  /** Relay flags; its data dir is the Scratch's relay/. */
  relay?: Omit<Parameters<typeof startRelay>[0], "dataDir">;
  /** false: clients learn the relay key on first use instead of being given --relay-key. */
  pinRelayKey?: boolean;
  /** Environment of a user's first client. */
  env?: Record<string, Record<string, string>>;
}

export interface StartOptions {
  /** HOST:PORT to reach the relay at (default 127.0.0.1 and the relay's port). */
  server?: string;
  dataDir?: string;
  passwordFile?: string;
  env?: Record<string, string>;
  extra?: string[];
  /** Show the tray icon (the env must give it a display). */
  tray?: boolean;
  /** Wait until the client is connected (default true). */
  connected?: boolean;
}

export class World {
  /** Each user's password file. */
  readonly pw: Record<string, string> = {};
  /** Each user's password, as written in the file. */
  readonly password: Record<string, string> = {};
  /** The client last started for each user. */
  readonly clients: Record<string, ClientHandle> = {};

  constructor(
    readonly s: Scratch,
    readonly relay: RelayHandle,
    private readonly pinRelayKey: boolean,
  ) {}

  /** Start a user's client (by default in s.path(user), with their password file) and wait for it to connect. */
  async start(user: string, opts: StartOptions = {}): Promise<ClientHandle> {
    const dataDir = opts.dataDir ?? this.s.path(user);
    const c = this.s.track(
      await startClient({
        user,
        server: opts.server ?? `127.0.0.1:${this.relay.port}`,
        dataDir,
        passwordFile: opts.passwordFile ?? this.pw[user]!,
        ...(this.pinRelayKey ? { relayKey: this.relay.key } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.extra ? { extra: opts.extra } : {}),
        ...(opts.tray ? { tray: true } : {}),
      }),
    );
    this.clients[user] = c;
    if (opts.connected ?? true) await waitConnected(dataDir);
    return c;
  }
}

export async function startWorld(s: Scratch, opts: WorldOptions): Promise<World> {
  const relay = s.track(await startRelay({ dataDir: s.path("relay"), ...opts.relay }));
  const w = new World(s, relay, opts.pinRelayKey ?? true);
  const password = opts.password ?? ((u: string) => `${u} pw ${randomBytes(4).toString("hex")}`);
  await Promise.all(
    opts.users.map(async (u) => {
      w.password[u] = password(u);
      w.pw[u] = passwordFile(s.path("pw"), u, w.password[u]!);
      await register(relay.dataDir, u, w.pw[u]!);
    }),
  );
  const idle = new Set(opts.idle ?? []);
  const env = opts.env ?? {};
  await Promise.all(opts.users.filter((u) => !idle.has(u)).map((u) => w.start(u, env[u] ? { env: env[u] } : {})));
  return w;
}
