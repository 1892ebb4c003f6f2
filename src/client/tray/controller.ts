// The tray icon's lifecycle: keeps a helper running, shows the client's status
// in it, and turns menu choices into actions. The tray never takes the client down: a
// helper that fails to start or dies is logged and started again with backoff.

import type { DaemonEvent } from "../events.ts";
import type { HelperEvents, HelperItem, HelperMenu } from "./helper-process.ts";
import { nextTick, trayView, type TrayAction, type TrayItem, type TrayStatus, type TrayView } from "./tray-state.ts";
import { iconBase64 } from "./tray-icon.ts";

/** What the tray needs of ClientHost. */
export interface TrayHost {
  status(): TrayStatus;
  readonly events: { on(l: (e: DaemonEvent) => void): () => void };
  readonly uiUrl: string | null;
  lock(): void;
}

/** A running helper as the controller uses it (TrayHelper, or a fake in tests). */
export interface HelperHandle {
  updateItem(item: HelperItem): void;
  updateMenu(menu: HelperMenu): void;
  stop(): Promise<void>;
}

export type LaunchHelper = (menu: HelperMenu, on: HelperEvents) => Promise<HelperHandle>;

export interface TrayDeps {
  host: TrayHost;
  launch: LaunchHelper;
  /** Show a URL in the user's browser. */
  open(url: string): void;
  /** Stop the client as SIGTERM does. */
  quit(): void;
  log(line: string): void;
  platform: NodeJS.Platform;
  now?: () => number;
  /** Restart delays: first, doubling up to max (ms). */
  backoff?: { firstMs: number; maxMs: number };
  /** How often to re-read the status for changes no event announces (a message read). */
  refreshMs?: number;
}

/** A helper that stayed up this long was healthy: the next failure starts the backoff over. */
const HEALTHY_MS = 60_000;

export class TrayController {
  #d: TrayDeps;
  #now: () => number;
  #backoff: { firstMs: number; maxMs: number };
  #helper: HelperHandle | undefined;
  #shown: TrayView | undefined;
  #failures = 0;
  #stopped = false;
  #started = false;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #tickTimer: ReturnType<typeof setTimeout> | undefined;
  #refresh: ReturnType<typeof setInterval> | undefined;
  #unsubscribe: (() => void) | undefined;
  #loggedState: string | undefined;

  constructor(d: TrayDeps) {
    this.#d = d;
    this.#now = d.now ?? Date.now;
    this.#backoff = d.backoff ?? { firstMs: 1000, maxMs: 300_000 };
  }

  /** What the tray shows now (undefined while no helper runs). */
  get view(): TrayView | undefined {
    return this.#helper ? this.#shown : undefined;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#unsubscribe = this.#d.host.events.on((e) => {
      if (e.type === "status" || e.type === "message") this.#render();
    });
    this.#refresh = setInterval(() => this.#render(), this.#d.refreshMs ?? 5000);
    void this.#launch();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearInterval(this.#refresh);
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#tickTimer);
    const h = this.#helper;
    this.#helper = undefined;
    await h?.stop();
  }

  async #launch(): Promise<void> {
    const startedAt = this.#now();
    let view: TrayView;
    let helper: HelperHandle;
    try {
      view = this.#viewNow();
      helper = await this.#d.launch(toMenu(view, this.#d.platform), {
        click: (id) => this.#click(id),
        exit: (why) => {
          if (this.#helper !== helper) return;
          this.#helper = undefined;
          if (this.#now() - startedAt >= HEALTHY_MS) this.#failures = 0;
          this.#retry(`the tray helper ${why.replace(/^the tray helper /, "")}`);
        },
      });
    } catch (e) {
      if (!this.#stopped) this.#retry((e as Error).message);
      return;
    }
    if (this.#stopped) {
      await helper.stop();
      return;
    }
    this.#helper = helper;
    this.#shown = view;
    this.#loggedState = undefined;
    this.#render("tray icon shown"); // the status may have moved while the helper started
  }

  #retry(why: string): void {
    const delay = Math.min(this.#backoff.maxMs, this.#backoff.firstMs * 2 ** Math.min(this.#failures, 20));
    this.#failures++;
    this.#d.log(`tray: ${why}; trying again in ${formatDelay(delay)}`);
    clearTimeout(this.#tickTimer);
    this.#restartTimer = setTimeout(() => void this.#launch(), delay);
  }

  #viewNow(): TrayView {
    const s = this.#d.host.status();
    const now = this.#now();
    clearTimeout(this.#tickTimer);
    const tick = nextTick(s, now);
    // The retry countdown moves by the clock alone.
    if (tick !== null && !this.#stopped) this.#tickTimer = setTimeout(() => this.#render(), tick);
    return trayView(s, now);
  }

  /** Send the helper what changed since it was last told. */
  #render(logPrefix = "tray"): void {
    if (this.#stopped || !this.#helper) return;
    try {
      this.#update(this.#helper, logPrefix);
    } catch (e) {
      // Runs from timers: an exception here must not end the client.
      this.#d.log(`tray: cannot show the status: ${(e as Error).message}`);
    }
  }

  #update(h: HelperHandle, logPrefix: string): void {
    const next = this.#viewNow();
    const prev = this.#shown!;
    if (iconKey(next) !== iconKey(prev) || next.tooltip !== prev.tooltip) h.updateMenu(toMenu(next, this.#d.platform));
    next.items.forEach((item, i) => {
      const old = prev.items[i];
      if (!old || old.title !== item.title || old.enabled !== item.enabled) h.updateItem(toItem(item, i));
    });
    this.#shown = next;
    this.#logState(next, logPrefix);
  }

  /**
   * One log line per change of icon or status, not per second of a countdown nor per
   * connecting/retrying round while the relay stays away (the daemon logs those).
   */
  #logState(v: TrayView, prefix: string): void {
    const key = `${iconKey(v)} ${/^(Disconnected|Connecting) /.test(v.status) ? "down" : v.status}`;
    if (key === this.#loggedState) return;
    this.#loggedState = key;
    this.#d.log(`${prefix}: ${v.icon.color}: ${v.status}`);
  }

  #click(id: number): void {
    const item = this.#shown?.items[id - 1];
    if (!item || item.key === "status" || !item.enabled) return;
    this.#d.log(`tray: ${item.title}`);
    const url = this.#d.host.uiUrl;
    const act: Record<TrayAction, () => void> = {
      open: () => url && this.#d.open(url),
      compose: () => url && this.#d.open(`${url}/compose`),
      lock: () => this.#d.host.lock(),
      quit: () => this.#d.quit(),
    };
    try {
      act[item.key]();
    } catch (e) {
      this.#d.log(`tray: ${item.title} failed: ${(e as Error).message}`);
    }
  }
}

function iconKey(v: TrayView): string {
  return `${v.icon.color}/${v.icon.glyph}/${Math.min(v.icon.unread, 10)}`;
}

/** Item ids are positions from 1: the helper's ids, stable as the menu never changes shape. */
function toItem(item: TrayItem, index: number): HelperItem {
  return { title: item.title, tooltip: "", enabled: item.enabled, checked: false, hidden: false, __id: index + 1 };
}

export function toMenu(v: TrayView, platform: NodeJS.Platform): HelperMenu {
  return { icon: iconBase64(v.icon, platform), title: "", tooltip: v.tooltip, items: v.items.map(toItem) };
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
