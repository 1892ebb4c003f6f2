// Where the systray2 helper program is, made runnable. npm installs it without
// its execute bit, so we set the bit ourselves rather than trust a postinstall script that
// may not run; where that is impossible (a read-only install, or a copy embedded in a
// `bun build --compile` binary, which can be read but never executed) we write a copy
// into the data dir and run that.

import { createHash } from "node:crypto";
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { createRequire } from "node:module";

/** The helper's file name in systray2's traybin/ for a platform; undefined if it has none. */
export function helperFileName(platform: NodeJS.Platform): string | undefined {
  return { linux: "tray_linux_release", darwin: "tray_darwin_release", win32: "tray_windows_release.exe" }[platform as string];
}

/** The helper as npm installed it, next to systray2's package.json. */
export function installedHelper(platform: NodeJS.Platform): string {
  const name = helperFileName(platform);
  if (!name) throw new Error(`systray2 has no tray helper for ${platform}`);
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve("systray2/package.json");
  } catch {
    throw new Error("the tray helper is missing: the systray2 package is not installed");
  }
  return join(dirname(pkg), "traybin", name);
}

/** A file inside a compiled Bun binary: readable, but the OS cannot execute it. */
export function isEmbedded(path: string): boolean {
  return path.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(path);
}

/** Name of the copy folder under the data dir. */
export const HELPER_DIR = "tray";

/**
 * A runnable path for the helper. `source` is the helper to use (by default the installed
 * one; a compiled binary passes its embedded copy). Throws with a sentence on failure.
 */
export function resolveHelper(o: { dataDir: string; platform: NodeJS.Platform; source?: string }): string {
  const src = o.source ?? installedHelper(o.platform);
  if (!existsSync(src)) throw new Error(`the tray helper ${src} is missing`);
  if (!isEmbedded(src)) {
    if (o.platform === "win32" || executable(src)) return src;
    try {
      chmodSync(src, (statSync(src).mode & 0o777) | 0o111);
      if (executable(src)) return src;
    } catch {
      // Not ours to change (installed by another user, read-only): run a copy instead.
    }
  }
  return copyHelper(join(o.dataDir, HELPER_DIR), src, helperFileName(o.platform) ?? basename(src));
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Copy the helper into dir as NAME-<content hash>: a new version never overwrites a helper
 * that may be running, and a half-written file is never executed (written aside, then
 * renamed). Older copies are removed. (An embedded file's own name carries Bun's suffix,
 * hence the separate name.)
 */
export function copyHelper(dir: string, src: string, name: string): string {
  const bytes = readFileSync(src);
  const ext = extname(name);
  const base = basename(name, ext);
  const file = `${base}-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}${ext}`;
  const dest = join(dir, file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(dest)) {
    const tmp = `${dest}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o700 });
    renameSync(tmp, dest);
  }
  chmodSync(dest, 0o700);
  for (const f of readdirSync(dir)) {
    if (f === file || !f.startsWith(`${base}-`)) continue;
    try {
      rmSync(join(dir, f), { force: true });
    } catch {
      // Still running (Windows refuses to delete a running program): next time.
    }
  }
  return dest;
}
