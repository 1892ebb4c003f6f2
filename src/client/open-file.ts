// "Open" for an attachment (issue #3, as the seed did): decrypt it into an owner-only
// temporary file and hand that to the platform's default program. The copy is removed
// later; what the program does with it is outside smsg (SECURITY.md says so).

import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

/** The command that opens a file or URL: SMSG_OPENER (tests), else the platform's own. */
export function openerCommand(env: Record<string, string | undefined> = process.env, platform = process.platform): string[] {
  if (env.SMSG_OPENER) return [env.SMSG_OPENER];
  if (platform === "darwin") return ["open"];
  if (platform === "win32") return ["cmd", "/c", "start", ""];
  return ["xdg-open"];
}

export function runOpener(target: string, command = openerCommand()): void {
  const [cmd, ...args] = command;
  const child = spawn(cmd!, [...args, target], { stdio: "ignore", detached: true });
  child.on("error", () => {}); // no opener installed: nothing to take down
  child.unref();
}

/**
 * Write the bytes to a fresh owner-only folder and open the file. Returns its path. The
 * folder is removed after keepMs (long enough for the program to read it).
 */
export function openDecrypted(name: string, chunks: Iterable<Uint8Array>, keepMs = 10 * 60_000, command = openerCommand()): string {
  const dir = mkdtempSync(join(tmpdir(), "smsg-open-"));
  chmodSync(dir, 0o700);
  const path = join(dir, basename(name));
  writeFileSync(path, new Uint8Array(0), { mode: 0o600 });
  for (const c of chunks) writeFileSync(path, c, { flag: "a" });
  runOpener(path, command);
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
