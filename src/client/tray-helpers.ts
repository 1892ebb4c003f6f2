// The systray2 helpers imported as files, so that `bun build --compile` embeds
// them in the single binary. From source the installed helper is used (resolveHelper in
// tray/helper-path.ts); in a binary these embedded copies are passed as its helperSource
// and written out to the data dir to run. All three go into every binary (about 11 MiB),
// since one source builds for every target.

// @ts-ignore -- a Bun file import: the value is the file's path
import linux from "systray2/traybin/tray_linux_release" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import darwin from "systray2/traybin/tray_darwin_release" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import windows from "systray2/traybin/tray_windows_release.exe" with { type: "file" };
import { isEmbedded } from "./tray/helper-path.ts";

const HELPERS: Partial<Record<NodeJS.Platform, string>> = { linux: linux as string, darwin: darwin as string, win32: windows as string };

/** The embedded helper for platform when this is a compiled binary; otherwise undefined. */
export function embeddedTrayHelper(platform: NodeJS.Platform): string | undefined {
  const path = HELPERS[platform];
  return path !== undefined && isEmbedded(path) ? path : undefined;
}
