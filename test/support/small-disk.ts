// Small tmpfs disks, so a test can fill a data dir for real (ENOSPC) instead of pretending.
// Mounting needs root and the right to mount (CI has both); tests skip where it is missing.

import { spawnSync } from "bun";
import { mkdirSync } from "node:fs";

/** Can this machine give us a tmpfs? Tries a 1 MiB mount on the folder `probe`. */
export function canMountTmpfs(probe: string): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  mkdirSync(probe, { recursive: true });
  if (spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]).exitCode !== 0) return false;
  spawnSync(["umount", probe]);
  return true;
}

/** Mount an owner-only tmpfs of `mib` MiB on `dir` (made if missing); the caller unmounts it. */
export function mountTmpfs(dir: string, mib: number): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync(["mount", "-t", "tmpfs", "-o", `size=${mib}m,mode=0700`, "tmpfs", dir]);
  if (r.exitCode !== 0) throw new Error(`mount: ${r.stderr.toString()}`);
}
