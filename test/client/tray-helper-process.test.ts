// The helper driver against small stand-in programs that speak the systray2
// helper's JSON-lines protocol, or misbehave: silent, crashing, chatty, dying later. The
// real helper under Xvfb is test/tray/tray.test.ts.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TrayHelper, type HelperMenu } from "../../src/client/tray/helper-process.ts";
import { tempDir, waitFor } from "../support/harness.ts";

const dir = tempDir("smsg-tray-helper-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in helper: a Bun script run through its own shebang, as the real one is run. */
function fake(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!${process.execPath}\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const MENU: HelperMenu = {
  icon: "aWNvbg==",
  title: "",
  tooltip: "tip",
  items: [{ title: "Open Mailbox", tooltip: "", enabled: true, checked: false, hidden: false, __id: 2 }],
};

// Logs every line it reads; says something that is not JSON, then ready; reports a click
// on item 2 once it has the menu; ends on {"type":"exit"}.
const GOOD = (log: string) => `
const fs = require("node:fs");
console.log("Gtk-WARNING: not json");
console.log(JSON.stringify({ type: "ready" }));
let n = 0;
for await (const line of console) {
  fs.appendFileSync(${JSON.stringify(log)}, line + "\\n");
  if (++n === 1) console.log(JSON.stringify({ type: "clicked", item: {}, seq_id: 0, __id: 2 }));
  if (JSON.parse(line).type === "exit") process.exit(0);
}`;

function events() {
  const clicks: number[] = [];
  const exits: string[] = [];
  return { clicks, exits, on: { click: (id: number) => clicks.push(id), exit: (why: string) => exits.push(why) } };
}

describe("TrayHelper", () => {
  test("sends the menu after ready, reports clicks, sends updates, stops on request", async () => {
    const log = join(dir, "good.log");
    const e = events();
    const h = await TrayHelper.start(fake("good", GOOD(log)), MENU, e.on, 10_000);
    await waitFor("the click", () => e.clicks.length > 0);
    expect(e.clicks).toEqual([2]);
    expect(JSON.parse(readFileSync(log, "utf8").split("\n")[0]!)).toEqual(MENU);
    h.updateItem({ ...MENU.items[0]!, title: "Open", enabled: false });
    h.updateMenu({ ...MENU, tooltip: "new" });
    await waitFor("two updates", () => readFileSync(log, "utf8").trim().split("\n").length === 3);
    const [, item, menu] = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(item).toEqual({ type: "update-item", item: { ...MENU.items[0], title: "Open", enabled: false }, seq_id: -1 });
    expect(menu).toEqual({ type: "update-menu", menu: { ...MENU, tooltip: "new" } });
    await h.stop();
    expect(readFileSync(log, "utf8").trim().split("\n").at(-1)).toBe('{"type":"exit"}');
    expect(e.exits).toEqual([]); // a requested stop is not a death
  }, 20_000);

  test("a helper that never says ready is killed after the timeout", async () => {
    const path = fake("silent", `console.error("cannot open display"); await new Promise(() => setInterval(() => {}, 1000));`);
    const t0 = Date.now();
    const err = await TrayHelper.start(path, MENU, events().on, 1500).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("the tray helper did not start within 2 s: cannot open display");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
  }, 20_000);

  test("a helper that ends before ready fails the start with its last words", async () => {
    const path = fake("crash", `console.error("Gtk-WARNING: cannot open display: :99"); process.exit(1);`);
    const err = (await TrayHelper.start(path, MENU, events().on, 10_000).catch((e: Error) => e)) as Error;
    expect(err.message).toBe("the tray helper exited with code 1: Gtk-WARNING: cannot open display: :99");
  }, 20_000);

  test("a helper that dies later is reported once", async () => {
    const path = fake("dies", `console.log(JSON.stringify({ type: "ready" })); for await (const l of console) process.exit(3);`);
    const e = events();
    await TrayHelper.start(path, MENU, e.on, 10_000);
    await waitFor("the exit", () => e.exits.length > 0);
    expect(e.exits).toEqual(["exited with code 3"]);
  }, 20_000);

  test("a file that cannot be run fails the start with a sentence", async () => {
    const path = join(dir, "not-executable");
    writeFileSync(path, "#!/bin/sh\n", { mode: 0o644 });
    const err = (await TrayHelper.start(path, MENU, events().on, 10_000).catch((e: Error) => e)) as Error;
    expect(err.message).toStartWith(`cannot run the tray helper ${path} (`);
  });
});
