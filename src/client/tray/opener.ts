// Opening the mailbox in the user's browser from the tray: $SMSG_OPENER (for
// tests and unusual desktops), else $BROWSER, else the platform's opener.

import { spawn } from "bun";
import { childEnv } from "./child-env.ts";

/**
 * The command that opens url. SMSG_OPENER and BROWSER are command lines split at spaces;
 * BROWSER may list several commands separated by ":" (the first is used) and may place the
 * URL with %s, as xdg-utils and Python's webbrowser read it.
 */
export function openerCommand(url: string, env: Record<string, string | undefined>, platform: NodeJS.Platform): string[] {
  const own = env.SMSG_OPENER?.trim();
  if (own) return [...own.split(/\s+/), url];
  const browser = env.BROWSER?.split(platform === "win32" ? ";" : ":")[0]?.trim();
  if (browser) {
    const words = browser.split(/\s+/);
    return words.some((w) => w.includes("%s")) ? words.map((w) => w.replaceAll("%s", url)) : [...words, url];
  }
  if (platform === "darwin") return ["open", url];
  // Not `cmd /c start`: cmd re-parses the URL, and & or ^ in it would be taken as syntax.
  if (platform === "win32") return ["rundll32", "url.dll,FileProtocolHandler", url];
  return ["xdg-open", url];
}

/** An opener that logs instead of throwing: a missing browser must not hurt the client. */
export function makeOpener(o: { env: Record<string, string | undefined>; platform: NodeJS.Platform; log: (line: string) => void }): (url: string) => void {
  return (url) => {
    // Only our own loopback pages: nothing else should reach a shell-like opener.
    if (!/^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+(\/[\w/-]*)?$/.test(url)) {
      o.log(`tray: refusing to open ${JSON.stringify(url)}`);
      return;
    }
    const cmd = openerCommand(url, o.env, o.platform);
    try {
      const p = spawn(cmd, { env: childEnv(), stdin: "ignore", stdout: "ignore", stderr: "ignore", windowsHide: true });
      void p.exited.then((code) => {
        if (code !== 0) o.log(`tray: ${cmd[0]} could not open ${url} (exit code ${code}); set $BROWSER to your browser`);
      });
    } catch (e) {
      o.log(`tray: cannot open ${url}: ${cmd[0]} did not start (${(e as Error).message}); set $BROWSER to your browser`);
    }
  };
}
