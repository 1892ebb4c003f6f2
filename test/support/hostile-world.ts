// Real client processes around a hostile relay (hostile-relay.ts), and what a person sees of
// them through the CLI: outbox flags, delivery states and errors, inbox copies, contacts.
// Waits end on any outcome, so an attack that succeeds fails its test with a clear diff.

import { randomBytes } from "node:crypto";
import { Scratch, inbox, ok, outbox, passwordFile, startClient, waitConnected, waitFor, type Summary } from "./harness.ts";
import { HostileRelay, type Transfer } from "./hostile-relay.ts";
import { deriveUserKeys, type UserKeys } from "../../src/protocol/keys.ts";

export interface Delivery {
  recipient: string;
  state: string;
  error: string | null;
}

export interface Contact {
  identity: string; // hex, as `smsg contacts --json` prints it
  changed: boolean;
}

export class HostileWorld {
  readonly scratch = new Scratch();
  readonly relay: HostileRelay = this.scratch.track(new HostileRelay());
  #keys = new Map<string, UserKeys>();

  /** Register and start a client for each of `users`; `lenders` only get keys (to lend their identity to the relay). */
  async start(users: string[], lenders: string[] = []): Promise<void> {
    for (const u of [...users, ...lenders]) {
      const password = `${u} pw ${randomBytes(4).toString("hex")}`;
      const file = passwordFile(this.scratch.path("pw"), u, password);
      this.#keys.set(u, await deriveUserKeys(u, password));
      if (!users.includes(u)) continue;
      this.relay.register(u, (await ok(["register-code", "--user", u, "--password-file", file])).trim());
      this.scratch.track(
        await startClient({ user: u, server: `127.0.0.1:${this.relay.port}`, dataDir: this.dir(u), passwordFile: file, relayKey: this.relay.key }),
      );
    }
    for (const u of users) {
      await waitConnected(this.dir(u));
      await this.relay.waitOnline(u);
    }
  }

  cleanup = (): Promise<void> => this.scratch.cleanup();

  dir = (user: string): string => this.scratch.path(user);

  /** A user's real keys, derived here from their password, not learnt from the relay. */
  keysOf = (user: string): UserKeys => {
    const k = this.#keys.get(user);
    if (!k) throw new Error(`no keys for ${user}`);
    return k;
  };

  identityOf = (user: string): Uint8Array => this.keysOf(user).identity.publicKey;

  send = async (from: string, to: string, subject: string, extra: string[] = []): Promise<string> => {
    const out = await ok(["send", "--data", this.dir(from), "--to", to, "--subject", subject, "--body", `${subject} body`, ...extra]);
    return out.match(/[0-9a-f]{32}/)![0];
  };

  flag = async (from: string, id: string): Promise<string | undefined> => (await outbox(this.dir(from))).find((m) => m.id === id)?.flags;

  waitFlag = (from: string, id: string, want: string): Promise<true> =>
    waitFor(`${from}'s ${id} to show ${want}`, async () => (await this.flag(from, id)) === want || undefined, 30_000, 200);

  delivery = async (from: string, id: string, recipient?: string): Promise<Delivery> => {
    const m = JSON.parse(await ok(["show", id, "--data", this.dir(from), "--json"])) as { deliveries: Delivery[] };
    return recipient ? m.deliveries.find((d) => d.recipient === recipient)! : m.deliveries[0]!;
  };

  /**
   * The outcome of an attempt, whatever it is: a new delivery is queued without an error.
   * `besides` names an outcome already seen that does not count.
   */
  outcome = (from: string, id: string, recipient?: string, besides?: string): Promise<Delivery> =>
    waitFor(`an outcome for ${from}'s ${id}`, async () => {
      const d = await this.delivery(from, id, recipient);
      return d.state !== "queued" || (d.error !== null && !(besides && d.error.includes(besides))) ? d : undefined;
    }, 30_000, 200);

  copies = async (user: string, id: string): Promise<Summary[]> => (await inbox(this.dir(user))).filter((m) => m.id === id);

  received = (user: string, id: string): Promise<Summary> =>
    waitFor(`${user} to receive ${id}`, async () => (await this.copies(user, id))[0], 30_000, 200);

  /** A message the relay lets through: proof that the path from `from` to `to` is live now. */
  control = async (from: string, to: string, extra: string[] = []): Promise<string> => {
    const id = await this.send(from, to, `control ${randomBytes(3).toString("hex")}`, extra);
    await this.waitFlag(from, id, "S");
    await this.received(to, id);
    return id;
  };

  contacts = async (user: string): Promise<Record<string, Contact>> => {
    const list = JSON.parse(await ok(["contacts", "--data", this.dir(user), "--json"])) as (Contact & { user: string })[];
    return Object.fromEntries(list.map((c) => [c.user, { identity: c.identity, changed: c.changed }]));
  };
}

/**
 * Picks the victims of an attack by message id: armed with a tag, the next SEND from `from`
 * to `to` of a message the relay has not seen before is captured, and every later attempt
 * of it keeps its tag. Controls are sent only after the capture, so they are never victims.
 */
export class Victims<T> {
  readonly tags = new Map<string, T>();
  #relay: HostileRelay;
  #armed: { from: string; to: string; tag: T } | undefined;
  #last: string | undefined;

  constructor(relay: HostileRelay) {
    this.#relay = relay;
  }

  arm(from: string, to: string, tag: T): void {
    this.#armed = { from, to, tag };
    this.#last = undefined;
  }

  /** Called from onSend: the victim's tag, or undefined for any other message. */
  take(t: Transfer): T | undefined {
    const known = this.tags.get(t.hex);
    if (known !== undefined) return known;
    const a = this.#armed;
    if (!a || t.from !== a.from || t.to !== a.to || this.#relay.transfersOf(t.hex).length !== 1) return undefined;
    this.#armed = undefined;
    this.tags.set(t.hex, a.tag);
    this.#last = t.hex;
    return a.tag;
  }

  captured(): Promise<string> {
    return waitFor("the relay to capture the victim's SEND", () => this.#last, 20_000, 20);
  }
}

export const hexOf = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const bytesOf = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));
