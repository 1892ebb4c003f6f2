// Finding and preparing the systray2 helper: npm leaves it without an execute
// bit, which resolveHelper sets; a copy (for a compiled binary's embedded helper) lands in
// the data dir under a content-hashed name, runnable, never half-written.

import { afterAll, describe, expect, test } from "bun:test";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HELPER_DIR, copyHelper, helperFileName, installedHelper, isEmbedded, resolveHelper } from "../../src/client/tray/helper-path.ts";
import { tempDir } from "../support/harness.ts";

const dir = tempDir("smsg-tray-path-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runnable = (p: string) => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

describe("helper path", () => {
  test("systray2's helper for each platform it has one for", () => {
    expect(helperFileName("linux")).toBe("tray_linux_release");
    expect(helperFileName("darwin")).toBe("tray_darwin_release");
    expect(helperFileName("win32")).toBe("tray_windows_release.exe");
    expect(helperFileName("aix")).toBeUndefined();
    expect(() => installedHelper("aix")).toThrow("systray2 has no tray helper for aix");
    const linux = installedHelper("linux");
    expect(linux).toEndWith(join("systray2", "traybin", "tray_linux_release"));
    expect(existsSync(linux)).toBe(true);
  });

  test("the installed helper comes out runnable, in place", () => {
    const p = resolveHelper({ dataDir: join(dir, "data-installed"), platform: "linux" });
    expect(p).toBe(installedHelper("linux"));
    expect(runnable(p)).toBe(true);
  });

  test("a helper without its execute bit gets it (npm installs it so)", () => {
    const src = join(dir, "tray_linux_release");
    writeFileSync(src, "#!/bin/sh\n", { mode: 0o644 });
    expect(runnable(src)).toBe(false);
    expect(resolveHelper({ dataDir: join(dir, "data-chmod"), platform: "linux", source: src })).toBe(src);
    expect(runnable(src)).toBe(true);
    expect(statSync(src).mode & 0o777).toBe(0o755);
  });

  test("a missing helper is a sentence", () => {
    expect(() => resolveHelper({ dataDir: dir, platform: "linux", source: join(dir, "nope") })).toThrow(`the tray helper ${join(dir, "nope")} is missing`);
  });

  test("files inside a compiled binary are recognised", () => {
    expect(isEmbedded("/$bunfs/root/tray_linux_release")).toBe(true);
    expect(isEmbedded("B:\\~BUN\\root\\tray_windows_release.exe")).toBe(true);
    expect(isEmbedded("/usr/lib/smsg/tray_linux_release")).toBe(false);
  });

  test("a copy is content-named, owner-only runnable, reused, and replaces older copies", () => {
    const out = join(dir, "data-copy", HELPER_DIR);
    const src = join(dir, "v1", "tray_linux_release-dg1wdd7g."); // as Bun names an embedded file
    rmSync(join(dir, "v1"), { recursive: true, force: true });
    mkdirSync(join(dir, "v1"));
    writeFileSync(src, "#!/bin/sh\necho one\n", { mode: 0o444 });
    const a = copyHelper(out, src, "tray_linux_release");
    expect(a).toMatch(/tray_linux_release-[0-9a-f]{16}$/);
    expect(readFileSync(a, "utf8")).toBe("#!/bin/sh\necho one\n");
    expect(statSync(a).mode & 0o777).toBe(0o700);
    const mtime = statSync(a).mtimeMs;
    expect(copyHelper(out, src, "tray_linux_release")).toBe(a);
    expect(statSync(a).mtimeMs).toBe(mtime);
    writeFileSync(src, "#!/bin/sh\necho two\n");
    const b = copyHelper(out, src, "tray_linux_release");
    expect(b).not.toBe(a);
    expect(readdirSync(out)).toEqual([b.slice(out.length + 1)]);
  });
});
