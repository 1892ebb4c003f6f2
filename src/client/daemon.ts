// The client daemon (CLIENT.md §2): the relay link, the encrypted store, the outbox and the
// inbound side, and the state a local API, a web page or a tray reads. Built with real
// dependencies by main.ts; tests build it the same way.

import { randomBytes } from "node:crypto";
import { Buffer } from "node:buffer";
import { encodeRelayKey } from "../protocol/keys.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { isUserId } from "../protocol/user-id.ts";
import {
  MAX_ATTACHMENTS,
  MAX_HEADER_BYTES,
  MAX_SUBJECT_CHARS,
  encodeHeader,
  subjectLength,
  validateName,
  type EnvelopeHeader,
} from "../protocol/envelope.ts";
import { RelayClient, type ClientIdentity, type Link, type LinkState } from "./relay-client.ts";
import type { IdentityChange } from "../protocol/identity-change.ts";
import { crashPoint } from "../net/crash-point.ts";
import { Outbox } from "./outbox.ts";
import { Inbound } from "./inbound.ts";
import { Prekeys } from "./prekeys.ts";
import type { EventBus } from "./events.ts";
import type { MessageSummary, Store } from "./store.ts";
import { SearchIndex } from "./search.ts";
import type { Status } from "./status.ts";
import { UserError } from "./user-error.ts";
import type { AttachmentWriter } from "./attachment-writer.ts";
import { MAX_UPLOAD, writeUploads } from "./attachment-http.ts";
import { DEFAULT_SETTINGS, type Settings } from "../views/mailbox-settings.ts";
import { formatHostPort } from "../net/host-port.ts";

export interface DaemonOptions {
  host: string;
  port: number;
  /** Every relay address given (`--server A,B,...`, a relay cluster's nodes); host and port are the first. */
  servers?: { host: string; port: number }[];
  heartbeat: number;
  maxBackoff: number;
  /** A relay key given on the command line: it replaces the pin (SPEC.md §3.2). */
  relayKey?: Uint8Array;
  /** A one-time invite from the operator (`client --invite`, SPEC.md §3.3). */
  invite?: Uint8Array;
}

/**
 * A password change under way (CLIENT.md §1.6): the relay still has to adopt the new code,
 * or has adopted it and the store still has to commit. The daemon finishes it at login.
 */
export interface ChangeInProgress {
  next: ClientIdentity;
  statement: IdentityChange;
  /** The relay holds the new code: commit the store and go on with the new keys. */
  switched(): void;
  /** The relay refused the change for good (reason for the person). */
  refused(reason: string): void;
}

const PIN_KEY = "relay-key";
const SETTINGS_KEY = "settings";

export class Daemon {
  readonly store: Store;
  readonly id: ClientIdentity;
  readonly events: EventBus;
  readonly relay: RelayClient;
  #outbox: Outbox;
  #inbound: Inbound;
  #prekeys: Prekeys;
  #now: () => number;
  #log: (line: string) => void;
  #opts: DaemonOptions;
  #uiUrl: () => string | null;
  #search: SearchIndex | undefined;
  #change: ChangeInProgress | undefined;

  constructor(deps: {
    store: Store;
    id: ClientIdentity;
    change?: ChangeInProgress;
    opts: DaemonOptions;
    events: EventBus;
    /** Where the host serves the mailbox, once it listens. */
    uiUrl?: () => string | null;
    now?: () => number;
    log: (line: string) => void;
  }) {
    this.store = deps.store;
    this.events = deps.events;
    this.id = deps.id;
    this.#now = deps.now ?? Date.now;
    this.#log = deps.log;
    this.#opts = deps.opts;
    this.#uiUrl = deps.uiUrl ?? (() => null);
    this.#change = deps.change;
    if (deps.opts.relayKey) this.store.setMeta(PIN_KEY, deps.opts.relayKey);
    const self = { user: this.id.user, identity: this.id.identity.publicKey };
    this.#outbox = new Outbox({ store: this.store, ...self, events: this.events, now: this.#now, log: deps.log });
    this.#inbound = new Inbound({ store: this.store, ...self, events: this.events, now: this.#now, log: deps.log });
    this.#prekeys = new Prekeys({ store: this.store, now: this.#now, log: deps.log });
    this.relay = new RelayClient({
      host: deps.opts.host,
      port: deps.opts.port,
      servers: deps.opts.servers,
      id: this.id,
      heartbeat: deps.opts.heartbeat,
      maxBackoff: deps.opts.maxBackoff,
      invite: deps.opts.invite,
      alternate: deps.change?.next,
      pinned: () => this.store.getMeta(PIN_KEY) ?? null,
      pin: (key) => {
        this.store.setMeta(PIN_KEY, key);
        this.#log(`pinned the relay key ${encodeRelayKey(key)} (first contact)`);
      },
      onState: (s) => this.#onState(s),
      onUp: (link) => {
        if (this.#change) return void this.#finishChange(link, this.#change);
        this.#outbox.up(link);
      },
      onDown: (link) => {
        this.#outbox.down(link);
        this.#inbound.down();
      },
      onMessage: (link, m) => {
        if (this.#inbound.handle(link, m)) return;
        if (m.t === "prekeyState") return void this.#prekeys.onState(link, m);
        const mine = this.#outbox.handle(m);
        if (m.t === "presence") this.events.emit({ type: "presence", user: m.user, online: m.online });
        else if (!mine) this.#log(`unexpected ${m.t} from the relay`);
      },
      now: this.#now,
    });
  }

  /** The most bytes of outgoing chunks that waited on the link at once (a test reads it). */
  get peakSendQueueBytes(): number {
    return this.#outbox.peakQueuedBytes;
  }

  /** Bytes waiting on the link to the relay now: posted, not yet taken by the kernel. */
  get sendQueueBytes(): number {
    return this.relay.link?.queuedBytes ?? 0;
  }

  /** A password change is under way: both passwords open the store until it is done. */
  get changing(): boolean {
    return this.#change !== undefined;
  }

  /**
   * Logged in during a change: with the new keys, the relay adopted the code already (the
   * answer was lost, or the client died before committing); with the old ones, ask it now.
   * A lost link or no answer leaves the change for the next login.
   */
  async #finishChange(link: Link, change: ChangeInProgress): Promise<void> {
    if (link.id === change.next) return change.switched();
    this.#log("asking the relay to adopt the new registration code (password change)");
    let r;
    try {
      r = await link.changeCode(change.next.login.publicKey, change.statement);
    } catch (e) {
      this.#log(`the relay did not confirm the password change (${(e as Error).message}); it is asked again at the next login`);
      return;
    }
    if (r.status === "ok") {
      crashPoint("switched");
      return change.switched();
    }
    change.refused(`the relay refused the password change: ${r.reason}`);
  }

  start(): void {
    this.store.pruneDrafts(this.#now() - 24 * 3600_000);
    this.relay.start();
  }

  stop(): void {
    this.relay.stop();
    this.#outbox.stop();
    this.#prekeys.stop();
  }

  #onState(s: LinkState): void {
    this.events.emit({ type: "status", ...this.status() });
    if (s.kind === "retrying" || s.kind === "refused") this.#log(s.error);
    if (s.kind === "connected") this.#log(`connected to the relay as ${this.id.user}`);
  }

  status(): Status {
    const s = this.relay.state;
    const pin = this.store.getMeta(PIN_KEY);
    return {
      user: this.id.user,
      relay: this.relay.connectedTo ?? relayAddress(this.#opts),
      state: s.kind,
      retryAt: s.kind === "retrying" ? s.retryAt : null,
      connected: s.kind === "connected",
      relayKey: pin ? encodeRelayKey(pin) : null,
      uiUrl: this.#uiUrl(),
      queued: this.store.countQueued(),
      unread: this.store.count("in", true),
      error:
        s.kind === "retrying"
          ? `${s.error}; retrying in ${Math.max(0, Math.ceil((s.retryAt - this.#now()) / 1000))} s`
          : s.kind === "refused"
            ? s.error
            : s.kind === "connecting"
              ? "connecting"
              : s.kind === "stopped"
                ? "stopped"
                : null,
    };
  }

  /** Users connected to the relay now (the old program's "Get Connected Users"). */
  async connectedUsers(): Promise<string[]> {
    const link = this.relay.link;
    if (!link) throw new UserError("not connected to the relay", 503);
    return link.who().catch((e: Error) => {
      throw new UserError(e.message, 503);
    });
  }

  async send(req: { to: string[]; subject: string; body: string; attachments: { att: string; name: string }[] }): Promise<SendResult> {
    const p = await this.#prepare(req, req.attachments, (a) => {
      const size = this.store.draftSize(a.att);
      if (size === undefined) throw new UserError(`attachment ${a.name} was not uploaded (or was already sent)`);
      return size;
    });
    this.store.saveOutgoing({ id: p.id, from: this.id.user, to: p.to, date: p.date, subject: req.subject, body: req.body, attachments: p.attachments });
    this.#outbox.kick();
    return { id: p.id, flags: "Q", queued: p.queued };
  }

  /**
   * Send a message and upload its attachments in one go (CLIENT.md §2.3, `POST
   * /api/send/upload`): `bytes` are the attachments one after another, of the sizes declared.
   * The outbox starts sending while they are still being written, and holds the last chunk
   * back until the message is stored; an upload that fails stores nothing and aborts that
   * transfer, so the message is never sent.
   */
  async sendUpload(
    req: { to: string[]; subject: string; body: string; attachments: { name: string; size: number }[] },
    bytes: AsyncIterable<Uint8Array>,
  ): Promise<SendResult> {
    const total = req.attachments.reduce((n, a) => n + a.size, 0);
    if (total > MAX_UPLOAD) throw new UserError("the attachments together are larger than 4 GiB");
    const p = await this.#prepare(req, req.attachments, (a) => a.size);
    const now = this.#now();
    const writers: AttachmentWriter[] = [];
    let commit!: (rid: number) => void;
    let fail!: (e: unknown) => void;
    const committed = new Promise<number>((resolve, reject) => ((commit = resolve), (fail = reject)));
    try {
      for (let i = 0; i < p.attachments.length; i++) writers.push(this.store.newAttachment("draft", now));
      const store = this.store;
      this.#outbox.live({
        id: p.id,
        to: p.to,
        date: p.date,
        content: { subject: req.subject, body: req.body, attachments: p.attachments },
        attachments: async function* () {
          for (const [i, w] of writers.entries()) yield* store.followAttachment(w, p.attachments[i]!.size);
        },
        committed,
      });
      await writeUploads(writers, p.attachments.map((a) => a.size), bytes);
      const attachments = p.attachments.map((a, i) => ({ ...a, att: writers[i]!.att }));
      const rid = this.store.saveOutgoing({ id: p.id, from: this.id.user, to: p.to, date: p.date, subject: req.subject, body: req.body, attachments });
      commit(rid);
    } catch (e) {
      fail(e);
      for (const w of writers) this.store.discardAttachment(w.att);
      throw e;
    }
    this.#outbox.kick();
    return { id: p.id, flags: "Q", queued: p.queued };
  }

  /**
   * What every send checks before anything is stored, each failure a UserError: recipients,
   * subject, body, attachment names and the header's size; while connected, the relay is asked
   * about each recipient so a typo is an error now, not a message that can never leave.
   */
  async #prepare<A extends { name: string; att?: string }>(
    req: { to: string[]; subject: string; body: string },
    given: A[],
    sizeOf: (a: A) => number,
  ): Promise<{ id: string; to: string[]; date: number; queued: string[]; attachments: (A & { size: number })[] }> {
    const to = [...new Set(req.to.map((u) => u.trim().toLowerCase()).filter((u) => u !== ""))];
    if (to.length === 0) throw new UserError("To is required: at least one recipient");
    for (const u of to) if (!isUserId(u)) throw new UserError(`"${u}" is not a valid user id`);
    if (req.subject.trim() === "") throw new UserError("Subject is required");
    if (subjectLength(req.subject) > MAX_SUBJECT_CHARS) throw new UserError(`Subject is longer than ${MAX_SUBJECT_CHARS} characters`);
    if (req.body.trim() === "") throw new UserError("Message is required");
    if (given.length > MAX_ATTACHMENTS) throw new UserError(`at most ${MAX_ATTACHMENTS} attachments per message`);
    const uploads = given.flatMap((a) => (a.att === undefined ? [] : [a.att]));
    if (new Set(uploads).size !== uploads.length) throw new UserError("the same upload is attached twice");
    const attachments = given.map((a) => {
      try {
        validateName(a.name);
      } catch (e) {
        throw new UserError(e instanceof ProtocolError ? `attachment "${a.name}": ${e.message.replace(/^\w+: /, "")}` : String(e));
      }
      return { ...a, size: sizeOf(a) };
    });
    const id = Buffer.from(randomBytes(16)).toString("hex");
    // The header (subject, body, names) travels as one piece: refuse now what could never go.
    const date = this.#now();
    const header = encodeHeaderSize({ v: 1, id, from: this.id.user, to, date, subject: req.subject, body: req.body, attachments });
    if (header > MAX_HEADER_BYTES) throw new UserError("the message text is too long (the header is limited to 4 MiB)");
    const offline: string[] = [];
    const link = this.relay.link;
    if (link) {
      for (const u of to) {
        const k = await link.getKey(u).catch(() => {
          throw new UserError("the connection to the relay was lost; try again", 503);
        });
        if (k.status === "unknown") throw new UserError(`unknown recipient: ${u} is not a user of this relay`);
        if (k.status === "offline") offline.push(u);
      }
    }
    return { id, to, date, queued: link ? offline : to, attachments };
  }

  list(folder: "in" | "out", limit?: number, offset?: number): MessageSummary[] {
    return this.store.list(folder, { limit, offset });
  }

  show(id: string) {
    const m = this.store.find(id);
    if (!m) throw new UserError(`no message ${id}`, 404);
    if (m.folder === "in" && m.flags.includes("U")) this.store.markRead(m.rid);
    return m;
  }

  rejectIdentity(user: string): void {
    if (!this.store.rejectIdentity(user, this.#now())) throw new UserError(`no changed identity is waiting for ${user}`, 404);
  }

  /** Built on first use after unlock; see search.ts for why it is in memory only. */
  get search(): SearchIndex {
    this.#search ??= new SearchIndex(this.store);
    return this.#search;
  }

  settings(): Settings {
    const raw = this.store.getMeta(SETTINGS_KEY);
    const saved = raw ? (JSON.parse(new TextDecoder().decode(raw)) as Partial<Settings>) : {};
    return { ...DEFAULT_SETTINGS, ...saved };
  }

  saveSettings(s: Settings): void {
    this.store.setMeta(SETTINGS_KEY, new TextEncoder().encode(JSON.stringify(s)));
  }

  /** `key` is the pending identity key the person checked (its safety number): CLIENT.md §2.3. */
  acceptIdentity(user: string, key: Uint8Array): void {
    const r = this.store.acceptIdentity(user, key);
    if (r === "none") throw new UserError(`no changed identity is waiting for ${user}`, 404);
    if (r === "changed") throw new UserError("the key changed again; check the new safety number", 409);
    this.store.releaseHeld(user, this.#now());
    this.#outbox.kick();
  }
}

/** What a send answers: the new message's id and the recipients it waits for (offline). */
export interface SendResult {
  id: string;
  flags: string;
  queued: string[];
}

/** The relay address as configured: one HOST:PORT, or the list of several. */
export function relayAddress(o: { host: string; port: number; servers?: { host: string; port: number }[] }): string {
  return o.servers && o.servers.length > 1 ? o.servers.map(formatHostPort).join(",") : formatHostPort(o);
}

/** Bytes of the header JSON, or more than MAX_HEADER_BYTES when encoding refuses it. */
function encodeHeaderSize(h: EnvelopeHeader): number {
  try {
    return encodeHeader(h).length - 4;
  } catch {
    return MAX_HEADER_BYTES + 1;
  }
}
