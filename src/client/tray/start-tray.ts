// The tray icon with real dependencies, as `smsg client` starts it unless --no-tray
//: the systray2 helper, the desktop's opener, the host's status and events.

import { TrayController, type TrayHost } from "./controller.ts";
import { TrayHelper } from "./helper-process.ts";
import { helperFileName, resolveHelper } from "./helper-path.ts";
import { makeOpener } from "./opener.ts";

/** Generous: GTK's first start on a loaded machine takes seconds. */
const READY_TIMEOUT_MS = 15_000;

/** Linux and the BSDs draw through X11 or Wayland; without either there is no tray. */
export function hasDisplay(env: Record<string, string | undefined>, platform: NodeJS.Platform): boolean {
  if (platform === "darwin" || platform === "win32") return true;
  return !!(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** Start the tray; undefined (after one log line) where none can be shown. */
export function startTray(o: {
  host: TrayHost;
  dataDir: string;
  /** Stop the client: the same path as SIGTERM. */
  quit(): void;
  log(line: string): void;
  env?: Record<string, string | undefined>;
  platform?: NodeJS.Platform;
  /**
   * The helper to run instead of the installed one: a compiled binary embeds it with
   * `import helper from "systray2/traybin/tray_linux_release" with { type: "file" }` and
   * passes that path; resolveHelper writes it out to the data dir (checked by hand with
   * `bun build --compile`).
   */
  helperSource?: string;
}): TrayController | undefined {
  const env = o.env ?? process.env;
  const platform = o.platform ?? process.platform;
  if (!hasDisplay(env, platform)) {
    o.log("tray: no display ($DISPLAY and $WAYLAND_DISPLAY are unset): running without a tray icon");
    return undefined;
  }
  if (!helperFileName(platform)) {
    o.log(`tray: no tray helper for ${platform}: running without a tray icon`);
    return undefined;
  }
  const tray = new TrayController({
    host: o.host,
    platform,
    log: o.log,
    quit: o.quit,
    open: makeOpener({ env, platform, log: o.log }),
    // Resolved on every attempt: a helper deleted or made unrunnable meanwhile is fixed
    // (or reported) by the next try.
    launch: (menu, on) => TrayHelper.start(resolveHelper({ dataDir: o.dataDir, platform, source: o.helperSource }), menu, on, READY_TIMEOUT_MS),
  });
  tray.start();
  return tray;
}
