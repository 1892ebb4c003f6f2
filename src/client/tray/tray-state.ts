// What the tray shows for a client status (SPEC.md §7.3 states): the icon, the
// status text (the old program's hover text: on Linux the first, disabled menu item, and the
// tooltip where the platform has one) and the menu. Pure: status and clock in, view out.

import type { Status } from "../status.ts";
import type { IconSpec } from "./icon-art.ts";

/** The parts of ClientHost.status() the tray reads. */
export type TrayStatus = Pick<Status, "state" | "retryAt" | "relay" | "user" | "unread" | "uiUrl" | "error">;

/** Menu entries a click can choose; "status" is the disabled text line. */
export type TrayAction = "open" | "compose" | "lock" | "quit";

export interface TrayItem {
  key: "status" | TrayAction;
  title: string;
  enabled: boolean;
}

export interface TrayView {
  icon: IconSpec;
  status: string;
  tooltip: string;
  items: TrayItem[];
}

/** The status line, e.g. "Connected to relay.example.org:7443 as alice". */
export function statusText(s: TrayStatus, now: number): string {
  switch (s.state) {
    case "connected":
      return `Connected to ${s.relay} as ${s.user}`;
    case "connecting":
      return `Connecting to ${s.relay} as ${s.user}`;
    case "retrying": {
      const secs = s.retryAt === null ? 0 : Math.ceil((s.retryAt - now) / 1000);
      // A version reply is unauthenticated, so it is retried (SPEC.md §2.3), but named: it
      // needs an upgrade, not patience.
      const what = /protocol version/.test(s.error ?? "") ? "Relay speaks another protocol version" : "Disconnected";
      return secs > 0 ? `${what} — retrying in ${secs} s` : `${what} — retrying now`;
    }
    case "refused":
      // The two refusals a client does not retry by itself (SPEC.md §7.3): a changed relay
      // key (what an impostor looks like) and another client of the same user taking over.
      return /another client/.test(s.error ?? "") ? "Stopped: another client logged in" : "Relay key changed";
    case "locked":
      return "Locked";
    case "stopped":
      return "Stopped";
  }
}

export function trayView(s: TrayStatus, now: number): TrayView {
  const status = statusText(s, now);
  const canOpen = s.uiUrl !== null;
  return {
    icon: {
      color: s.state === "connected" ? "green" : "red",
      glyph: s.state === "locked" ? "lock" : s.state === "refused" ? "alert" : "mail",
      unread: s.unread,
    },
    status,
    tooltip: s.unread > 0 ? `${status} (${s.unread} unread)` : status,
    items: [
      { key: "status", title: status, enabled: false },
      // First: Linux trays report clicks on menu items only, not on the icon.
      { key: "open", title: "Open Mailbox", enabled: canOpen },
      { key: "compose", title: "Send Message", enabled: canOpen },
      // Locking ends the mailbox's browser sessions; a locked client has none to end.
      { key: "lock", title: "Lock", enabled: s.state !== "locked" },
      { key: "quit", title: "Quit", enabled: true },
    ],
  };
}

/**
 * When the view next changes by the clock alone (the retry countdown), in ms from now;
 * null when only a new status can change it.
 */
export function nextTick(s: TrayStatus, now: number): number | null {
  if (s.state !== "retrying" || s.retryAt === null || s.retryAt <= now) return null;
  const left = s.retryAt - now;
  return left - (Math.ceil(left / 1000) - 1) * 1000;
}
