// Open's command line (SECURITY.md §14 #1, CLIENT.md §2.6): one program and the path as one
// argument on every platform, never cmd.exe; on Windows the copy's name loses cmd's syntax
// characters; the copy is marked as coming from elsewhere where the OS has a mark.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { copyName, openCommand, openDecrypted, originMark } from "../../src/client/open-file.ts";
import { tempDir, waitFor } from "../support/harness.ts";
import { writeFileSync } from "node:fs";

const WIN_DIR = "C:\\Users\\Ann Lee\\AppData\\Local\\Temp\\smsg-open-Ab12Cd";
const NIX_DIR = "/tmp/smsg-open-Ab12Cd";

/** What Open builds for an attachment name: the copy's path, then the argv. */
const argvFor = (platform: NodeJS.Platform, name: string) =>
  openCommand(platform, platform === "win32" ? `${WIN_DIR}\\${copyName(platform, name)}` : `${NIX_DIR}/${copyName(platform, name)}`);

const HOSTILE: [name: string, win32: string, posix: string][] = [
  ["invoice&calc&.pdf", "invoice_calc_.pdf", "invoice&calc&.pdf"],
  ["a^b%PATH%(x),y.pdf", "a_b_PATH__x__y.pdf", "a^b%PATH%(x),y.pdf"],
  ["my report (final).pdf", "my report _final_.pdf", "my report (final).pdf"],
  ['say "hi" & it\'s.txt', "say _hi_ _ it_s.txt", 'say "hi" & it\'s.txt'],
  ["--help.pdf", "--help.pdf", "--help.pdf"],
  ["-rf", "-rf", "-rf"],
  ["!x!;a=b|c>d.cmd", "_x__a_b_c_d.cmd", "!x!;a=b|c>d.cmd"],
];

describe("openCommand", () => {
  test.each(HOSTILE)("%p: one program and the path as one argument on win32, darwin, linux", (name, win, nix) => {
    expect(argvFor("win32", name)).toEqual(["explorer.exe", `${WIN_DIR}\\${win}`]);
    expect(argvFor("darwin", name)).toEqual(["open", `${NIX_DIR}/${nix}`]);
    expect(argvFor("linux", name)).toEqual(["xdg-open", `${NIX_DIR}/${nix}`]);
    expect(argvFor("freebsd", name)).toEqual(["xdg-open", `${NIX_DIR}/${nix}`]);
    // Nothing on Windows goes through cmd, and no cmd syntax survives in the name.
    const win32 = argvFor("win32", name);
    expect(win32.map((a) => a.toLowerCase())).not.toContainEqual(expect.stringMatching(/(^|\\)cmd(\.exe)?$/));
    expect(win32[1]!.slice(WIN_DIR.length)).not.toMatch(/[&^%(),!;=`'"<>|]/);
  });

  test("a relative path is refused: a name can never be read as an option", () => {
    expect(() => openCommand("linux", "-rf")).toThrow("absolute path");
    expect(() => openCommand("darwin", "--args.pdf")).toThrow("absolute path");
    expect(() => openCommand("win32", "/select,C:\\x.pdf")).toThrow("absolute path");
  });
});

describe("originMark", () => {
  const now = Date.UTC(2026, 11, 1, 12, 0, 0);
  test("Windows: the Mark of the Web stream, zone 3 (Internet)", () => {
    const p = `${WIN_DIR}\\invoice_calc_.pdf`;
    expect(originMark("win32", p, now)).toEqual({ kind: "stream", path: `${p}:Zone.Identifier`, content: "[ZoneTransfer]\r\nZoneId=3\r\n" });
  });
  test("macOS: the quarantine attribute through xattr -w, the path one argument", () => {
    const p = `${NIX_DIR}/a&b (1).pdf`;
    expect(originMark("darwin", p, now)).toEqual({
      kind: "command",
      argv: ["xattr", "-w", "com.apple.quarantine", `0081;${(now / 1000).toString(16)};smsg;`, p],
    });
  });
  test("Linux: no such mark", () => {
    expect(originMark("linux", `${NIX_DIR}/x.pdf`, now)).toEqual({ kind: "none" });
  });
});

describe("openDecrypted", () => {
  const dir = tempDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a real opener gets the hostile name's path as exactly one argument", async () => {
    const log = join(dir, "opened.log");
    const script = join(dir, "opener.sh");
    writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$#" "$1" > '${log}.tmp' && mv '${log}.tmp' '${log}'\n`);
    chmodSync(script, 0o755);
    const name = "invoice&calc&$(touch pwned) `id`.pdf";
    const path = openDecrypted(name, [new TextEncoder().encode("%PDF-1.7")], 60_000, (p) => [script, p]);
    const [argc, arg] = (await waitFor("the opener to run", () => existsSync(log) && readFileSync(log, "utf8"))).trimEnd().split("\n");
    expect(argc).toBe("1");
    expect(arg).toBe(path);
    expect(path).toEndWith(`/${name}`);
    expect(readFileSync(path, "utf8")).toBe("%PDF-1.7");
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    expect(existsSync(join(dir, "pwned"))).toBe(false);
  });
});
