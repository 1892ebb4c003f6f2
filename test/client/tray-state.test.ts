// The tray's state-to-view logic: icon colour and glyph, the exact status texts,
// the menu, and when a retry countdown next changes. Pure functions, pinned clock.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { nextTick, statusText, trayView, type TrayStatus } from "../../src/client/tray/tray-state.ts";

const NOW = 1_700_000_000_000;

function st(over: Partial<TrayStatus> = {}): TrayStatus {
  return {
    state: "connected",
    retryAt: null,
    relay: "relay.example.org:7443",
    user: "alice",
    unread: 0,
    uiUrl: "http://127.0.0.1:23456",
    error: null,
    ...over,
  };
}

const KEY_CHANGED =
  "the relay's key changed: expected smsgrelay1aaa, got smsgrelay1bbb. This is what an impostor relay looks like. If the operator confirms the new key, restart the client with --relay-key smsgrelay1bbb";

describe("status text", () => {
  test("connected names the relay and the user", () => {
    expect(statusText(st(), NOW)).toBe("Connected to relay.example.org:7443 as alice");
    expect(statusText(st({ relay: "[2001:db8::1]:7443", user: "bob" }), NOW)).toBe("Connected to [2001:db8::1]:7443 as bob");
  });

  test("retrying counts down whole seconds, rounding up", () => {
    const at = (ms: number) => statusText(st({ state: "retrying", retryAt: NOW + ms, error: "x; retrying" }), NOW);
    expect(at(8000)).toBe("Disconnected — retrying in 8 s");
    expect(at(7001)).toBe("Disconnected — retrying in 8 s");
    expect(at(7000)).toBe("Disconnected — retrying in 7 s");
    expect(at(1)).toBe("Disconnected — retrying in 1 s");
    expect(at(0)).toBe("Disconnected — retrying now");
    expect(at(-500)).toBe("Disconnected — retrying now");
  });

  test("locked, refused, connecting, stopped", () => {
    expect(statusText(st({ state: "locked" }), NOW)).toBe("Locked");
    expect(statusText(st({ state: "refused", error: KEY_CHANGED }), NOW)).toBe("Relay key changed");
    expect(statusText(st({ state: "refused", error: "another client logged in as alice; this one stopped" }), NOW)).toBe(
      "Stopped: another client logged in",
    );
    // A version reply is retried, not a refusal (SPEC.md §2.3), but the tray names it.
    expect(
      statusText(st({ state: "retrying", retryAt: NOW + 8000, error: "the relay speaks protocol version 2, this client 1: upgrade this client; retrying in 8 s" }), NOW),
    ).toBe("Relay speaks another protocol version — retrying in 8 s");
    expect(statusText(st({ state: "connecting" }), NOW)).toBe("Connecting to relay.example.org:7443 as alice");
    expect(statusText(st({ state: "stopped" }), NOW)).toBe("Stopped");
  });
});

describe("icon", () => {
  test("green with an envelope only while connected", () => {
    expect(trayView(st(), NOW).icon).toEqual({ color: "green", glyph: "mail", unread: 0 });
    expect(trayView(st({ state: "retrying", retryAt: NOW + 3000 }), NOW).icon).toEqual({ color: "red", glyph: "mail", unread: 0 });
    expect(trayView(st({ state: "connecting" }), NOW).icon.color).toBe("red");
    expect(trayView(st({ state: "stopped" }), NOW).icon.color).toBe("red");
  });

  test("a padlock when locked, an alert when the relay is refused", () => {
    expect(trayView(st({ state: "locked" }), NOW).icon).toEqual({ color: "red", glyph: "lock", unread: 0 });
    expect(trayView(st({ state: "refused", error: KEY_CHANGED }), NOW).icon).toEqual({ color: "red", glyph: "alert", unread: 0 });
  });

  test("the unread count reaches the icon and the tooltip", () => {
    const v = trayView(st({ unread: 3 }), NOW);
    expect(v.icon.unread).toBe(3);
    expect(v.tooltip).toBe("Connected to relay.example.org:7443 as alice (3 unread)");
    expect(trayView(st(), NOW).tooltip).toBe("Connected to relay.example.org:7443 as alice");
  });
});

describe("menu", () => {
  test("status line first and disabled, then Open Mailbox, Send Message, Lock, Quit", () => {
    const v = trayView(st(), NOW);
    expect(v.items.map((i) => [i.key, i.title, i.enabled])).toEqual([
      ["status", "Connected to relay.example.org:7443 as alice", false],
      ["open", "Open Mailbox", true],
      ["compose", "Send Message", true],
      ["lock", "Lock", true],
      ["quit", "Quit", true],
    ]);
  });

  test("nothing to open before the mailbox listens; nothing to lock when locked", () => {
    const v = trayView(st({ uiUrl: null, state: "locked" }), NOW);
    expect(Object.fromEntries(v.items.map((i) => [i.key, i.enabled]))).toEqual({
      status: false,
      open: false,
      compose: false,
      lock: false,
      quit: true,
    });
  });

  test("for any status: same five entries, status line = status text, green iff connected", () => {
    const states = ["connecting", "connected", "retrying", "refused", "locked", "stopped"] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...states),
        fc.option(fc.integer({ min: -10_000, max: 120_000 }), { nil: null }),
        fc.nat(5000),
        fc.option(fc.constant("http://127.0.0.1:20001"), { nil: null }),
        fc.string(),
        (state, dt, unread, uiUrl, error) => {
          const s = st({ state, retryAt: dt === null ? null : NOW + dt, unread, uiUrl, error });
          const v = trayView(s, NOW);
          expect(v.items.map((i) => i.key)).toEqual(["status", "open", "compose", "lock", "quit"]);
          expect(v.items[0]!.title).toBe(v.status);
          expect(v.status).toBe(statusText(s, NOW));
          expect(v.icon.color === "green").toBe(state === "connected");
          expect(v.icon.unread).toBe(unread);
          expect(v.tooltip.startsWith(v.status)).toBe(true);
        },
      ),
    );
  });
});

describe("nextTick", () => {
  test("wakes exactly when the shown number of seconds drops", () => {
    const r = (ms: number) => nextTick(st({ state: "retrying", retryAt: NOW + ms }), NOW);
    expect(r(8000)).toBe(1000);
    expect(r(7500)).toBe(500);
    expect(r(7001)).toBe(1);
    expect(r(300)).toBe(300);
    expect(r(0)).toBeNull();
    // After the wait, the text is one second lower.
    for (const ms of [8000, 7500, 7001, 2999, 1001]) {
      const before = statusText(st({ state: "retrying", retryAt: NOW + ms }), NOW);
      const after = statusText(st({ state: "retrying", retryAt: NOW + ms }), NOW + r(ms)!);
      const shown = (t: string) => Number(/in (\d+) s/.exec(t)?.[1]);
      expect(shown(after)).toBe(shown(before) - 1);
    }
  });

  test("only a countdown moves by the clock", () => {
    expect(nextTick(st(), NOW)).toBeNull();
    expect(nextTick(st({ state: "locked" }), NOW)).toBeNull();
    expect(nextTick(st({ state: "retrying", retryAt: null }), NOW)).toBeNull();
  });
});
