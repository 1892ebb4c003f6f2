// `smsg ctrl service install|uninstall|start|stop|status` (README "Running as a service"):
// writes the unit for this platform's service manager and drives it. Where no service
// manager runs (a container), install still writes the unit and the others say so plainly.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliError } from "../cli/cli-error.ts";
import { LAUNCHD_LABEL, SERVICE_NAME, launchdPlist, systemdUnit, windowsCommands, type ServiceSpec } from "./service-units.ts";
import type { Out } from "./users.ts";

export interface ServiceOptions {
  platform: NodeJS.Platform;
  /** Where the unit goes: /etc/systemd/system, /Library/LaunchDaemons. */
  unitDir?: string;
  user: string;
  config?: string;
  exec?: string;
  shutdownGrace: number;
  /** sd_booted(3): systemd is the running init when this folder exists. */
  systemdRunning?: () => boolean;
  /** false: write the unit only (packaging, tests); no user, no enable. */
  enable?: boolean;
}

/** How to run this very smsg: the single binary itself, or bun with src/main.ts. */
export function selfCommand(): string[] {
  const compiled = import.meta.dir.startsWith("/$bunfs") || /^[A-Z]:\\~BUN/i.test(import.meta.dir);
  return compiled ? [process.execPath] : [process.execPath, resolve(import.meta.dir, "../main.ts")];
}

function spec(dataDir: string, o: ServiceOptions): ServiceSpec {
  return { command: o.exec ? [o.exec] : selfCommand(), dataDir: resolve(dataDir), user: o.user, config: o.config, shutdownGrace: o.shutdownGrace };
}

export function unitPath(o: ServiceOptions): string {
  if (o.platform === "darwin") return join(o.unitDir ?? "/Library/LaunchDaemons", `${LAUNCHD_LABEL}.plist`);
  return join(o.unitDir ?? "/etc/systemd/system", `${SERVICE_NAME}.service`);
}

const systemd = (o: ServiceOptions) => (o.systemdRunning ?? (() => existsSync("/run/systemd/system")))();

const NO_MANAGER = "no service manager is present: systemd is not running on this machine (a container?)";

function run(cmd: string[], out?: Out): { code: number; text: string } {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8" });
  if (r.error) return { code: 127, text: `${cmd[0]}: ${r.error.message}` };
  const text = `${r.stdout ?? ""}${r.stderr ?? ""}`.trimEnd();
  if (out && text) out(text);
  return { code: r.status ?? 1, text };
}

function must(cmd: string[]): void {
  const r = run(cmd);
  if (r.code !== 0) throw new CliError(`\`${cmd.join(" ")}\` failed: ${r.text || `exit ${r.code}`}`);
}

export function serviceInstall(dataDir: string, o: ServiceOptions, out: Out): void {
  const s = spec(dataDir, o);
  if (o.platform === "win32") {
    out("Windows has no unit file: run these in an administrator prompt (README \"Running as a service\"):");
    for (const line of windowsCommands(s)) out(line);
    return;
  }
  const path = unitPath(o);
  const text = o.platform === "darwin" ? launchdPlist(s) : systemdUnit(s);
  try {
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text, { mode: 0o644 });
  } catch (e) {
    throw new CliError(`cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run it as root`);
  }
  out(`wrote ${path}`);
  if (/^\/(root|home)\//.test(s.command[s.command.length - 1]!)) {
    out(`warning: ${s.command.join(" ")} is under /root or /home, which the service cannot see (ProtectHome=yes); install the binary in /usr/local/bin and use --exec`);
  }
  if (o.platform === "darwin") {
    mkdirSync("/Library/Logs/smsg", { recursive: true });
    out(`create the user ${o.user} first (System Settings, or dscl), then: sudo launchctl bootstrap system ${path}`);
    return;
  }
  if (!systemd(o)) {
    out(`${NO_MANAGER}: the unit is written but not enabled`);
    return;
  }
  if (o.enable === false) {
    out("the unit is written but not enabled (--no-enable)");
    return;
  }
  if (run(["id", "-u", o.user]).code !== 0) {
    must(["useradd", "--system", "--user-group", "--home-dir", s.dataDir, "--no-create-home", "--shell", "/usr/sbin/nologin", o.user]);
    out(`created the system user ${o.user}`);
  }
  must(["systemctl", "daemon-reload"]);
  must(["systemctl", "enable", `${SERVICE_NAME}.service`]);
  out(`enabled ${SERVICE_NAME}; start it with \`smsg ctrl --data ${s.dataDir} service start\``);
}

export function serviceUninstall(o: ServiceOptions, out: Out): void {
  if (o.platform === "win32") {
    out(`schtasks /Delete /TN ${SERVICE_NAME} /F`);
    return;
  }
  const path = unitPath(o);
  if (o.platform === "darwin") run(["launchctl", "bootout", `system/${LAUNCHD_LABEL}`], out);
  else if (systemd(o)) run(["systemctl", "disable", "--now", `${SERVICE_NAME}.service`], out);
  if (!existsSync(path)) throw new CliError(`${path} is not installed`);
  rmSync(path);
  if (o.platform !== "darwin" && systemd(o)) run(["systemctl", "daemon-reload"]);
  out(`removed ${path}; the data dir and the logs are kept`);
}

export function serviceControl(action: "start" | "stop", o: ServiceOptions, out: Out): void {
  if (o.platform === "win32") {
    out(`schtasks /${action === "start" ? "Run" : "End"} /TN ${SERVICE_NAME}`);
    return;
  }
  if (o.platform === "darwin") {
    if (action === "start") must(["launchctl", "bootstrap", "system", unitPath(o)]);
    else must(["launchctl", "bootout", `system/${LAUNCHD_LABEL}`]);
  } else {
    if (!systemd(o)) throw new CliError(`cannot ${action} the service: ${NO_MANAGER}; run \`smsg relay\` in the foreground instead`);
    must(["systemctl", action, `${SERVICE_NAME}.service`]);
  }
  out(`${action === "start" ? "started" : "stopped"} ${SERVICE_NAME}`);
}

export function serviceStatus(o: ServiceOptions, out: Out): void {
  if (o.platform === "win32") {
    out(`schtasks /Query /TN ${SERVICE_NAME} /V /FO LIST`);
    return;
  }
  const path = unitPath(o);
  const installed = existsSync(path);
  if (o.platform === "darwin") {
    out(`${installed ? "installed" : "not installed"}: ${path}`);
    if (installed) run(["launchctl", "print", `system/${LAUNCHD_LABEL}`], out);
    return;
  }
  if (!systemd(o)) {
    out(NO_MANAGER);
    out(`unit: ${path} (${installed ? "written" : "not written; run `service install`"})`);
    return;
  }
  out(`unit: ${path} (${installed ? "installed" : "not installed"})`);
  if (installed) run(["systemctl", "status", "--no-pager", `${SERVICE_NAME}.service`], out);
}
