// The tray icon for real: a client process runs systray2's own helper program on
// an Xvfb display with trayer as the system tray. We read the icon's colour from the
// screen's pixels, open its menu with a real mouse click and choose entries with the
// keyboard (xdotool), and watch what the client does: green while connected, red while the
// relay is away, green when it returns; the unread badge; the opener; Lock; a helper
// killed and brought back; Quit. Nothing here is skipped: Xvfb, trayer and xdotool come
// from scripts/setup-system.sh, and their absence is a failure.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ICON_RGB } from "../../src/client/tray/icon-art.ts";
import { Desktop, SCREEN, TRAY, near, type Rgb } from "../support/desktop.ts";
import {
  Scratch,
  ok,
  startClient,
  startRelay,
  waitConnected,
  waitFor,
  type ClientHandle,
  type RelayHandle,
} from "../support/harness.ts";
import { startWorld } from "../support/world.ts";

const s = new Scratch();
let desktop: Desktop;
let relay: RelayHandle;
let port: number;
let alice: ClientHandle;
let bob: ClientHandle;
const opened = s.path("opened.txt");

const isGreen = near(ICON_RGB.green);
const isRed = near(ICON_RGB.red);
const isBadge = near(ICON_RGB.badge);
const lit = (c: Rgb) => c[0] + c[1] + c[2] > 60;
/** Below the tray strip: black unless a menu is open. */
const BELOW = { x: 0, y: TRAY.height + 1, width: SCREEN.width, height: SCREEN.height - TRAY.height - 1 };

beforeAll(async () => {
  desktop = s.track(await Desktop.start(s.path("x11")));
  // Clients learn the relay key on first use: the relay comes back on the same port with the same key.
  const w = await startWorld(s, { users: ["alice", "bob", "carol"], idle: ["alice", "bob", "carol"], password: (u) => `${u}-password`, pinRelayKey: false });
  relay = w.relay;
  port = relay.port;
  // The opener the tray runs: it notes each URL it is given.
  const opener = s.path("opener.sh");
  writeFileSync(opener, `#!/bin/sh\necho "$@" >> ${opened}\n`);
  chmodSync(opener, 0o755);
  // alice is not waited for here: the first test waits for her icon to turn green.
  alice = await w.start("alice", { tray: true, env: { DISPLAY: desktop.display, WAYLAND_DISPLAY: "", SMSG_OPENER: opener }, connected: false });
  // bob has the display too, but --no-tray.
  bob = await w.start("bob", { env: { DISPLAY: desktop.display } });
}, 120_000);
afterAll(() => s.cleanup());

type IconColour = "green" | "red" | "none";

function iconColour(): IconColour | undefined {
  const shot = desktop.shot();
  const g = shot.count(TRAY, isGreen);
  const r = shot.count(TRAY, isRed);
  if (g > 200 && r < 10) return "green";
  if (r > 200 && g < 10) return "red";
  if (g + r < 10) return "none";
  return undefined; // changing
}

function waitIcon(want: IconColour, timeoutMs = 30_000): Promise<true> {
  return waitFor(`the tray icon to be ${want} (it is ${iconColour()})`, () => iconColour() === want, timeoutMs, 100);
}

/**
 * Click the icon and wait for its menu to open and settle. Returns the menu's text lines
 * as pixels: one entry per band of rows holding text (darker than the menu's background),
 * cropped to the menu's first 100 columns, so menus of different widths compare.
 */
async function openMenu(): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    const icon = desktop.shot().bounds(TRAY, (c) => isGreen(c) || isRed(c));
    if (!icon) throw new Error("no tray icon to click");
    await desktop.xdotool("mousemove", String(icon.x + (icon.width >> 1)), String(icon.y + (icon.height >> 1)), "click", "1");
    try {
      await waitFor("the tray menu to open", () => desktop.shot().count(BELOW, lit) > 500, 5000, 50);
      break;
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
  // Settled: two screens in a row alike.
  let last = "";
  await waitFor("the menu to settle", () => {
    const now = desktop.shot().crop(BELOW);
    const same = now === last;
    last = now;
    return same;
  }, 5000, 100);
  const shot = desktop.shot();
  const box = shot.bounds(BELOW, lit)!;
  // Inside the menu's border: rows with text pixels, grouped into bands.
  const inner = { x: box.x + 3, y: box.y + 3, width: Math.min(100, box.width - 6), height: box.height - 6 };
  const text = (c: Rgb) => c[0] + c[1] + c[2] < 600;
  const lines: string[] = [];
  let band: number[] = [];
  for (let y = inner.y; y <= inner.y + inner.height; y++) {
    const has = y < inner.y + inner.height && shot.count({ ...inner, y, height: 1 }, text) > 0;
    if (has) band.push(y);
    else if (band.length) {
      lines.push(shot.crop({ ...inner, y: band[0]!, height: band.length }));
      band = [];
    }
  }
  return lines;
}

async function closeMenu(): Promise<void> {
  await desktop.xdotool("key", "Escape");
  await waitFor("the tray menu to close", () => desktop.shot().count(BELOW, lit) === 0, 5000, 50);
}

/** Choose the n-th enabled entry (1: Open Mailbox ... 4: Quit) as a user would. */
async function choose(n: number): Promise<void> {
  await openMenu();
  await desktop.xdotool("key", ...Array<string>(n).fill("Down"), "Return");
  await waitFor("the tray menu to close", () => desktop.shot().count(BELOW, lit) === 0, 5000, 50);
}

function trayLines(c: ClientHandle, re: RegExp): string[] {
  return c.proc.lines.filter((l) => re.test(l));
}

/** The client's direct children that are the tray helper. */
function helperPids(parent: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(join("/proc", d, "stat"), "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent && comm.startsWith("tray_linux")) out.push(Number(d));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

describe("the icon follows the connection", () => {
  let connectedMenu: string[];

  test("green while connected, with the status as the menu's first line", async () => {
    await waitIcon("green");
    await alice.proc.line(new RegExp(`tray(?: icon shown)?: green: Connected to 127\\.0\\.0\\.1:${port} as alice$`));
    expect(helperPids(alice.proc.proc.pid)).toHaveLength(1);
    connectedMenu = await openMenu();
    expect(connectedMenu).toHaveLength(5); // status, Open Mailbox, Send Message, Lock, Quit
    await closeMenu();
  }, 60_000);

  test("red when the relay goes away; the status line changes with it", async () => {
    await relay.stop();
    await waitIcon("red");
    await alice.proc.line(/tray: red: Disconnected — retrying in \d+ s$/);
    const downMenu = await openMenu();
    // The helper redrew the first line (the status) and only that one.
    expect(downMenu).toHaveLength(5);
    expect(downMenu[0]).not.toBe(connectedMenu[0]);
    expect(downMenu.slice(1)).toEqual(connectedMenu.slice(1));
    await closeMenu();
  }, 60_000);

  test("green again when the relay returns on the same port", async () => {
    const before = trayLines(alice, /: green: Connected to /).length;
    relay = s.track(await startRelay({ dataDir: s.path("relay"), listen: [`127.0.0.1:${port}`] }));
    await waitIcon("green");
    await waitFor("a new 'Connected' line", () => trayLines(alice, /: green: Connected to /).length > before);
    expect(await openMenu()).toEqual(connectedMenu); // the same words as before, drawn the same
    await closeMenu();
  }, 60_000);

  test("a new message puts the unread badge on the icon", async () => {
    expect(desktop.shot().count(TRAY, isBadge)).toBe(0);
    await ok(["send", "--data", s.path("bob"), "--to", "alice", "--subject", "tray", "--body", "look at the icon"]);
    await waitFor("the unread badge", () => desktop.shot().count(TRAY, isBadge) > 10, 30_000, 100);
    expect(iconColour()).toBe("green");
  }, 60_000);
});

describe("the menu", () => {
  test("Open Mailbox and Send Message run the opener with the mailbox's URLs", async () => {
    await choose(1);
    await waitFor("the opener", () => existsSync(opened) && readFileSync(opened, "utf8").split("\n").length >= 2);
    await choose(2);
    await waitFor("the opener again", () => readFileSync(opened, "utf8").split("\n").length >= 3);
    expect(readFileSync(opened, "utf8")).toBe(`${alice.url}\n${alice.url}/compose\n`);
    expect(trayLines(alice, /tray: (Open Mailbox|Send Message)$/).map((l) => l.split("tray: ")[1])).toEqual(["Open Mailbox", "Send Message"]);
  }, 60_000);

  test("Lock tells the mailbox's pages to lock (a `lock` event on /api/events)", async () => {
    const token = readFileSync(join(s.path("alice"), "api-token"), "utf8").trim();
    const ac = new AbortController();
    const res = await fetch(`${alice.url}/api/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    let seen = "";
    const reading = (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of res.body!) seen += dec.decode(chunk, { stream: true });
      } catch {
        // aborted below
      }
    })();
    await waitFor("the first status event", () => seen.includes("event: status"));
    expect(seen).not.toContain("event: lock");
    await choose(3);
    await waitFor("the lock event", () => seen.includes("event: lock"), 10_000);
    ac.abort();
    await reading;
    expect(iconColour()).toBe("green"); // the daemon stays connected: mail still arrives
  }, 60_000);
});

describe("robustness", () => {
  test("a helper that dies is logged and started again", async () => {
    const [old] = helperPids(alice.proc.proc.pid);
    expect(old).toBeNumber();
    process.kill(old!, "SIGKILL");
    await alice.proc.line(/tray: the tray helper exited with signal SIGKILL; trying again in 1 s$/);
    await waitFor("a new helper", () => {
      const now = helperPids(alice.proc.proc.pid);
      return now.length === 1 && now[0] !== old;
    });
    await waitFor("the icon shown again", () => trayLines(alice, /tray icon shown: /).length === 2);
    await waitIcon("green");
    expect(alice.proc.proc.exitCode).toBeNull(); // the client never noticed
  }, 60_000);

  test("Quit stops the client cleanly and takes the icon away", async () => {
    const [helper] = helperPids(alice.proc.proc.pid);
    await choose(4);
    expect(await alice.proc.proc.exited).toBe(0);
    expect(existsSync(join(s.path("alice"), "daemon.json"))).toBe(false);
    await waitIcon("none");
    await waitFor("the helper to end", () => {
      try {
        process.kill(helper!, 0);
        return false;
      } catch {
        return true;
      }
    });
  }, 60_000);

  test("--no-tray: no icon, no helper, no tray log line, even with a display", async () => {
    expect(bob.proc.proc.exitCode).toBeNull();
    expect(helperPids(bob.proc.proc.pid)).toEqual([]);
    expect(trayLines(bob, /tray/)).toEqual([]);
    expect(iconColour()).toBe("none");
  });

  test("no display: one line saying so, and the client runs on", async () => {
    const carol = s.track(
      await startClient({
        user: "carol",
        server: `127.0.0.1:${port}`,
        dataDir: s.path("carol"),
        passwordFile: s.path("pw", "carol.password"),
        tray: true,
        env: { DISPLAY: "", WAYLAND_DISPLAY: "" },
      }),
    );
    await waitConnected(s.path("carol"));
    expect(trayLines(carol, /tray/)).toEqual([expect.stringMatching(/ tray: no display \(\$DISPLAY and \$WAYLAND_DISPLAY are unset\): running without a tray icon$/)]);
    expect(helperPids(carol.proc.proc.pid)).toEqual([]);
  }, 60_000);
});
