// How the tray opens the mailbox: $SMSG_OPENER, then $BROWSER, then the
// platform's opener; only loopback mailbox URLs; a failing opener is logged, not thrown.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeOpener, openerCommand } from "../../src/client/tray/opener.ts";
import { tempDir, waitFor } from "../support/harness.ts";

const URL = "http://127.0.0.1:20001/compose";
const dir = tempDir("smsg-tray-opener-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("openerCommand", () => {
  test("SMSG_OPENER first, then BROWSER, then the platform's", () => {
    expect(openerCommand(URL, { SMSG_OPENER: "/x/open --new", BROWSER: "firefox" }, "linux")).toEqual(["/x/open", "--new", URL]);
    expect(openerCommand(URL, { BROWSER: "firefox" }, "linux")).toEqual(["firefox", URL]);
    expect(openerCommand(URL, {}, "linux")).toEqual(["xdg-open", URL]);
    expect(openerCommand(URL, {}, "freebsd")).toEqual(["xdg-open", URL]);
    expect(openerCommand(URL, {}, "darwin")).toEqual(["open", URL]);
    expect(openerCommand(URL, {}, "win32")).toEqual(["rundll32", "url.dll,FileProtocolHandler", URL]);
  });

  test("BROWSER: the first of a list, %s placed where it says", () => {
    expect(openerCommand(URL, { BROWSER: "chromium --app=%s:firefox" }, "linux")).toEqual(["chromium", `--app=${URL}`]);
    expect(openerCommand(URL, { BROWSER: "w3m:lynx" }, "linux")).toEqual(["w3m", URL]);
    expect(openerCommand(URL, { BROWSER: "C:\\b\\browser.exe;other" }, "win32")).toEqual(["C:\\b\\browser.exe", URL]);
    expect(openerCommand(URL, { BROWSER: "  ", SMSG_OPENER: "" }, "linux")).toEqual(["xdg-open", URL]);
  });
});

describe("makeOpener", () => {
  test("runs the opener with the URL", async () => {
    const out = join(dir, "opened");
    const script = join(dir, "opener.sh");
    writeFileSync(script, `#!/bin/sh\necho "$@" > ${out}\n`);
    chmodSync(script, 0o755);
    const logs: string[] = [];
    makeOpener({ env: { SMSG_OPENER: script }, platform: "linux", log: (l) => logs.push(l) })(URL);
    expect(await waitFor("the opener", () => existsSync(out) && readFileSync(out, "utf8"))).toBe(`${URL}\n`);
    expect(logs).toEqual([]);
  });

  test("the opener does not inherit SMSG_PASSWORD", async () => {
    const out = join(dir, "env");
    const script = join(dir, "env.sh");
    writeFileSync(script, `#!/bin/sh\nenv > ${out}.tmp && mv ${out}.tmp ${out}\n`);
    chmodSync(script, 0o755);
    // A client started with the password in its environment (Bun hands children the
    // environment it started with, so this needs a process of its own).
    const code = `import { makeOpener } from ${JSON.stringify(join(import.meta.dir, "../../src/client/tray/opener.ts"))};
      makeOpener({ env: process.env, platform: "linux", log: console.log })(${JSON.stringify(URL)});`;
    const p = Bun.spawn([process.execPath, "-e", code], { env: { ...process.env, SMSG_PASSWORD: "hunter2-secret", SMSG_OPENER: script } });
    expect(await p.exited).toBe(0);
    const env = await waitFor("the opener's environment", () => existsSync(out) && readFileSync(out, "utf8"));
    expect(env).toContain(`SMSG_OPENER=${script}`);
    expect(env).not.toContain("hunter2-secret");
  });

  test("a missing or failing opener is a log line", async () => {
    const logs: string[] = [];
    makeOpener({ env: { SMSG_OPENER: join(dir, "no-such-opener") }, platform: "linux", log: (l) => logs.push(l) })(URL);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toStartWith(`tray: cannot open ${URL}: ${join(dir, "no-such-opener")} did not start (`);
    makeOpener({ env: { SMSG_OPENER: "false" }, platform: "linux", log: (l) => logs.push(l) })(URL);
    await waitFor("the failure", () => logs.length === 2);
    expect(logs[1]).toBe(`tray: false could not open ${URL} (exit code 1); set $BROWSER to your browser`);
  });

  test("only loopback mailbox URLs are opened", () => {
    const logs: string[] = [];
    const open = makeOpener({ env: { SMSG_OPENER: join(dir, "no-such-opener") }, platform: "linux", log: (l) => logs.push(l) });
    for (const u of ["https://example.org/", "file:///etc/passwd", "http://127.0.0.1:1/a b", "http://127.0.0.1:1/;rm"]) open(u);
    expect(logs).toEqual([
      'tray: refusing to open "https://example.org/"',
      'tray: refusing to open "file:///etc/passwd"',
      'tray: refusing to open "http://127.0.0.1:1/a b"',
      'tray: refusing to open "http://127.0.0.1:1/;rm"',
    ]);
  });
});
