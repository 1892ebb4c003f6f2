// The tray controller against a fake helper: what it sends on start and on
// status changes, what each menu choice does, and that a failing or dying helper is logged
// and started again while the client carries on. The real helper: test/tray/tray.test.ts.

import { afterEach, describe, expect, test } from "bun:test";
import { EventBus } from "../../src/client/events.ts";
import { TrayController, type HelperHandle, type LaunchHelper } from "../../src/client/tray/controller.ts";
import type { HelperEvents, HelperItem, HelperMenu } from "../../src/client/tray/helper-process.ts";
import type { TrayStatus } from "../../src/client/tray/tray-state.ts";
import { iconBase64 } from "../../src/client/tray/tray-icon.ts";
import { waitFor } from "../support/harness.ts";

class FakeHost {
  readonly events = new EventBus();
  uiUrl: string | null = "http://127.0.0.1:20001";
  locks = 0;
  s: TrayStatus = { state: "connected", retryAt: null, relay: "127.0.0.1:7443", user: "alice", unread: 0, uiUrl: this.uiUrl, error: null };
  status(): TrayStatus {
    return { ...this.s };
  }
  lock(): void {
    this.locks++;
  }
  set(over: Partial<TrayStatus>): void {
    this.s = { ...this.s, ...over };
    this.events.emit({ type: "status", ...this.s, connected: this.s.state === "connected", relayKey: null, queued: 0 });
  }
}

class FakeHelper implements HelperHandle {
  menus: HelperMenu[] = [];
  items: HelperItem[] = [];
  stopped = false;
  constructor(
    readonly first: HelperMenu,
    readonly on: HelperEvents,
  ) {}
  updateItem(item: HelperItem): void {
    this.items.push(item);
  }
  updateMenu(menu: HelperMenu): void {
    this.menus.push(menu);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

interface Rig {
  host: FakeHost;
  tray: TrayController;
  helpers: FakeHelper[];
  logs: string[];
  opened: string[];
  quits: number;
  /** Launches to fail (in order) before one succeeds. */
  failures: string[];
}

let rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs) await r.tray.stop();
  rigs = [];
});

function rig(): Rig {
  const host = new FakeHost();
  const r = { host, helpers: [], logs: [], opened: [], quits: 0, failures: [] } as unknown as Rig;
  const launch: LaunchHelper = async (menu, on) => {
    const f = r.failures.shift();
    if (f) throw new Error(f);
    const h = new FakeHelper(menu, on);
    r.helpers.push(h);
    return h;
  };
  r.tray = new TrayController({
    host,
    launch,
    open: (u) => r.opened.push(u),
    quit: () => r.quits++,
    log: (l) => r.logs.push(l),
    platform: "linux",
    backoff: { firstMs: 10, maxMs: 40 },
  });
  rigs.push(r);
  return r;
}

async function started(r: Rig, n = 1): Promise<FakeHelper> {
  r.tray.start();
  return waitFor(`helper #${n}`, () => r.helpers[n - 1], 5000, 5);
}

describe("what the helper is told", () => {
  test("the first menu: icon, tooltip and five items with ids 1..5", async () => {
    const r = rig();
    const h = await started(r);
    expect(h.first.icon).toBe(iconBase64({ color: "green", glyph: "mail", unread: 0 }, "linux"));
    expect(h.first.tooltip).toBe("Connected to 127.0.0.1:7443 as alice");
    expect(h.first.items.map((i) => [i.__id, i.title, i.enabled])).toEqual([
      [1, "Connected to 127.0.0.1:7443 as alice", false],
      [2, "Open Mailbox", true],
      [3, "Send Message", true],
      [4, "Lock", true],
      [5, "Quit", true],
    ]);
    await waitFor("the view", () => r.tray.view);
    expect(r.logs).toContain("tray icon shown: green: Connected to 127.0.0.1:7443 as alice");
  });

  test("a status event turns the icon red and rewrites only the status line", async () => {
    const r = rig();
    const h = await started(r);
    await waitFor("the view", () => r.tray.view);
    r.host.set({ state: "retrying", retryAt: Date.now() + 5500, error: "connection to the relay lost" });
    expect(h.menus.at(-1)!.icon).toBe(iconBase64({ color: "red", glyph: "mail", unread: 0 }, "linux"));
    expect(h.items.map((i) => [i.__id, i.title])).toEqual([[1, "Disconnected — retrying in 6 s"]]);
    expect(r.tray.view!.status).toBe("Disconnected — retrying in 6 s");
    expect(r.logs.at(-1)).toBe("tray: red: Disconnected — retrying in 6 s");
    // Back up: green again.
    r.host.set({ state: "connected", retryAt: null, error: null });
    expect(h.menus.at(-1)!.icon).toBe(h.first.icon);
    expect(h.items.at(-1)!.title).toBe("Connected to 127.0.0.1:7443 as alice");
  });

  test("the retry countdown moves by itself, one log line for it all", async () => {
    const r = rig();
    const h = await started(r);
    await waitFor("the view", () => r.tray.view);
    r.host.set({ state: "retrying", retryAt: Date.now() + 1400 });
    expect(h.items.at(-1)!.title).toBe("Disconnected — retrying in 2 s");
    await waitFor("the countdown", () => h.items.some((i) => i.title === "Disconnected — retrying in 1 s"), 3000, 10);
    expect(r.logs.filter((l) => l.includes("Disconnected"))).toHaveLength(1);
  });

  test("a new message updates the badge; an unchanged view sends nothing", async () => {
    const r = rig();
    const h = await started(r);
    await waitFor("the view", () => r.tray.view);
    r.host.s.unread = 2;
    r.host.events.emit({ type: "message", id: "00", from: "bob", subject: "hi" });
    expect(h.menus.at(-1)!.icon).toBe(iconBase64({ color: "green", glyph: "mail", unread: 2 }, "linux"));
    expect(h.menus.at(-1)!.tooltip).toBe("Connected to 127.0.0.1:7443 as alice (2 unread)");
    const sent = h.menus.length + h.items.length;
    r.host.events.emit({ type: "message", id: "01", from: "bob", subject: "again" });
    r.host.events.emit({ type: "presence", user: "bob", online: true });
    expect(h.menus.length + h.items.length).toBe(sent);
  });

  test("locking the client greys out Lock and shows the padlock", async () => {
    const r = rig();
    const h = await started(r);
    await waitFor("the view", () => r.tray.view);
    r.host.set({ state: "locked" });
    expect(h.menus.at(-1)!.icon).toBe(iconBase64({ color: "red", glyph: "lock", unread: 0 }, "linux"));
    expect(h.items.map((i) => [i.__id, i.title, i.enabled])).toEqual([
      [1, "Locked", false],
      [4, "Lock", false],
    ]);
  });
});

describe("menu choices", () => {
  test("Open Mailbox, Send Message, Lock, Quit; the status line does nothing", async () => {
    const r = rig();
    const h = await started(r);
    await waitFor("the view", () => r.tray.view);
    h.on.click(1);
    expect([r.opened, r.host.locks, r.quits]).toEqual([[], 0, 0]);
    h.on.click(2);
    expect(r.opened).toEqual(["http://127.0.0.1:20001"]);
    h.on.click(3);
    expect(r.opened).toEqual(["http://127.0.0.1:20001", "http://127.0.0.1:20001/compose"]);
    h.on.click(4);
    expect(r.host.locks).toBe(1);
    expect(r.quits).toBe(0);
    h.on.click(5);
    expect(r.quits).toBe(1);
    h.on.click(99);
    expect([r.opened.length, r.host.locks, r.quits]).toEqual([2, 1, 1]);
  });

  test("a disabled entry does nothing", async () => {
    const r = rig();
    r.host.s.state = "locked";
    const h = await started(r);
    await waitFor("the view", () => r.tray.view);
    h.on.click(4);
    expect(r.host.locks).toBe(0);
  });
});

describe("a failing helper never takes the client down", () => {
  test("a helper that cannot start is logged and tried again with growing delays", async () => {
    const r = rig();
    r.failures.push("cannot run the tray helper (EACCES)", "the tray helper exited with code 1: cannot open display");
    const h = await started(r);
    expect(r.logs[0]).toBe("tray: cannot run the tray helper (EACCES); trying again in 10 ms");
    expect(r.logs[1]).toBe("tray: the tray helper exited with code 1: cannot open display; trying again in 20 ms");
    expect(h.first.items).toHaveLength(5);
  });

  test("a helper that dies is replaced, showing the status of the moment", async () => {
    const r = rig();
    const h1 = await started(r);
    await waitFor("the view", () => r.tray.view);
    r.host.s = { ...r.host.s, state: "retrying", retryAt: Date.now() + 30_000 };
    h1.on.exit("exited with signal SIGKILL");
    expect(r.tray.view).toBeUndefined();
    expect(r.logs.at(-1)).toBe("tray: the tray helper exited with signal SIGKILL; trying again in 10 ms");
    const h2 = await waitFor("a new helper", () => r.helpers[1], 5000, 5);
    expect(h2.first.icon).toBe(iconBase64({ color: "red", glyph: "mail", unread: 0 }, "linux"));
    // The old helper's late events are ignored.
    h1.on.exit("exited again");
    expect(r.helpers).toHaveLength(2);
  });

  test("a status that cannot be read is logged, on start and later, and the tray carries on", async () => {
    const r = rig();
    const real = r.host.status.bind(r.host);
    let broken = true;
    r.host.status = () => {
      if (broken) throw new Error("the database is closed");
      return real();
    };
    r.tray.start();
    await waitFor("the failed start", () => r.logs.length > 0, 5000, 5);
    expect(r.logs[0]).toBe("tray: the database is closed; trying again in 10 ms");
    broken = false;
    const h = await waitFor("a helper", () => r.helpers[0], 5000, 5);
    await waitFor("the view", () => r.tray.view);
    broken = true;
    r.host.events.emit({ type: "message", id: "00", from: "bob", subject: "hi" });
    expect(r.logs.at(-1)).toBe("tray: cannot show the status: the database is closed");
    broken = false;
    r.host.set({ state: "locked" });
    expect(h.items.at(-1)!.title).toBe("Lock");
    expect(r.tray.view!.status).toBe("Locked");
  });

  test("stop ends the helper and nothing restarts it", async () => {
    const r = rig();
    const h = await started(r);
    await waitFor("the view", () => r.tray.view);
    await r.tray.stop();
    expect(h.stopped).toBe(true);
    r.host.set({ state: "retrying", retryAt: Date.now() + 1000 });
    expect(h.items).toHaveLength(0);
    // A helper ending after stop is not restarted (a restart is scheduled synchronously,
    // with a log line, so its absence shows now).
    const lines = r.logs.length;
    h.on.exit("exited with code 0");
    expect(r.logs).toHaveLength(lines);
    expect(r.helpers).toHaveLength(1);
  });
});
