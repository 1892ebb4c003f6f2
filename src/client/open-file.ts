// "Open" for an attachment (SECURITY.md §14 #1; CLIENT.md §2.6): decrypt it into an
// owner-only temporary file, mark it as downloaded from elsewhere where the OS has such a
// mark, and hand it to the platform's default program. The copy is removed later; what the
// program does with it is outside smsg (SECURITY.md §9).

import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, posix, win32 } from "node:path";
import { childEnv } from "./tray/child-env.ts";

/**
 * The argv that opens the file at `path` with its default program: one program and the
 * path as one argument of its own, never a command line that a shell re-parses. On Windows
 * not `cmd /c start`: cmd reads & ^ % ( ) in an unquoted path as syntax, so a file named
 * `invoice&calc&.pdf` ran calc. explorer.exe takes the path as its argument and opens it
 * with the associated program. The path must be absolute, so no name can pass for an option
 * (`-h.pdf` is `/tmp/.../-h.pdf`, `C:\...\-h.pdf`).
 */
export function openCommand(platform: NodeJS.Platform, path: string): string[] {
  // On Windows a drive or UNC path: "/select,..." is rooted but is also an explorer switch.
  const absolute = platform === "win32" ? /^([A-Za-z]:\\|\\\\)/.test(path) : posix.isAbsolute(path);
  if (!absolute) throw new Error(`openCommand needs an absolute path, not ${JSON.stringify(path)}`);
  if (platform === "win32") return ["explorer.exe", path];
  if (platform === "darwin") return ["open", path];
  return ["xdg-open", path];
}

/** Characters that mean something to cmd.exe or to explorer.exe's own argument parsing. */
const WINDOWS_SYNTAX = /[&^%(),!;=`'"<>|]/g;

/**
 * The name the temporary copy gets: the attachment's base name, and on Windows with cmd's
 * and explorer's syntax characters replaced by "_" (defence in depth behind openCommand:
 * a name like `a&b^c%PATH%.pdf` never reaches any parser as syntax). The extension, which
 * chooses the program, stays.
 */
export function copyName(platform: NodeJS.Platform, name: string): string {
  const base = platform === "win32" ? win32.basename(name) : basename(name);
  return platform === "win32" ? base.replace(WINDOWS_SYNTAX, "_") : base;
}

/** How the copy is marked as coming from elsewhere, so the OS warns before running it. */
export type OriginMark =
  | { kind: "stream"; path: string; content: string } // an NTFS alternate data stream
  | { kind: "command"; argv: string[] }
  | { kind: "none" };

/**
 * Windows: the Mark of the Web, a `Zone.Identifier` alternate data stream with ZoneId=3
 * (Internet), which SmartScreen and Office's Protected View honour. macOS: the
 * `com.apple.quarantine` attribute (flags;hex seconds;agent;), which Gatekeeper checks
 * before an app or script in the file runs. Linux has no such mark: nothing.
 */
export function originMark(platform: NodeJS.Platform, path: string, nowMs: number): OriginMark {
  if (platform === "win32") return { kind: "stream", path: `${path}:Zone.Identifier`, content: "[ZoneTransfer]\r\nZoneId=3\r\n" };
  if (platform === "darwin") {
    const value = `0081;${Math.floor(nowMs / 1000).toString(16)};smsg;`;
    return { kind: "command", argv: ["xattr", "-w", "com.apple.quarantine", value, path] };
  }
  return { kind: "none" };
}

/** Apply the mark; best effort (a temporary folder on FAT has no streams), never fatal. */
function applyMark(mark: OriginMark): void {
  try {
    if (mark.kind === "stream") writeFileSync(mark.path, mark.content, { mode: 0o600 });
    else if (mark.kind === "command") spawnSync(mark.argv[0]!, mark.argv.slice(1), { stdio: "ignore", env: childEnv() });
  } catch {
    // the copy still opens, unmarked, as before the mark existed
  }
}

/** The opener for a path: $SMSG_OPENER (tests), else the platform's own. */
export function openerFor(env: Record<string, string | undefined> = process.env, platform = process.platform): (path: string) => string[] {
  const own = env.SMSG_OPENER;
  return own ? (path) => [own, path] : (path) => openCommand(platform, path);
}

export function runOpener(argv: string[]): void {
  const [cmd, ...args] = argv;
  // childEnv: the opened program and whatever it starts do not inherit SMSG_PASSWORD.
  const child = spawn(cmd!, args, { stdio: "ignore", detached: true, env: childEnv(), windowsHide: true });
  child.on("error", () => {}); // no opener installed: nothing to take down
  child.unref();
}

/**
 * Write the bytes to a fresh owner-only folder, mark the copy, and open it. Returns its
 * path. The folder is removed after keepMs (long enough for the program to read it).
 */
export function openDecrypted(name: string, chunks: Iterable<Uint8Array>, keepMs = 10 * 60_000, opener = openerFor()): string {
  const dir = mkdtempSync(join(tmpdir(), "smsg-open-"));
  chmodSync(dir, 0o700);
  const path = join(dir, copyName(process.platform, name));
  writeFileSync(path, new Uint8Array(0), { mode: 0o600 });
  for (const c of chunks) writeFileSync(path, c, { flag: "a" });
  applyMark(originMark(process.platform, path, Date.now()));
  runOpener(opener(path));
  setTimeout(() => rmSync(dir, { recursive: true, force: true }), keepMs).unref();
  return path;
}

/**
 * Remove decrypted copies left by an earlier run (the daemon stopped before their timer
 * fired): our own smsg-open-* folders older than keepMs. Called when the client starts.
 */
export function removeStaleCopies(keepMs = 10 * 60_000, now = Date.now()): number {
  let removed = 0;
  const uid = process.getuid?.();
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith("smsg-open-")) continue;
    const dir = join(tmpdir(), name);
    try {
      const st = statSync(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || now - st.mtimeMs < keepMs) continue;
      rmSync(dir, { recursive: true, force: true });
      removed++;
    } catch {
      // gone meanwhile, or not ours to look at
    }
  }
  return removed;
}
