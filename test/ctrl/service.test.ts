// `smsg ctrl service ...`: the unit it writes passes `systemd-analyze verify`
// with no warning and is hardened as README says; where systemd is not running (this
// machine, CI's containers) status and start say so plainly. The launchd plist is valid
// XML by xmllint; the Windows commands are printed.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { cli, ok, tempDir } from "../support/harness.ts";
import { launchdPlist, systemdUnit, windowsCommands } from "../../src/ctrl/service-units.ts";

const root = tempDir("smsg-service-");
afterAll(() => rmSync(root, { recursive: true, force: true }));
const systemdRunning = existsSync("/run/systemd/system");

function verify(path: string): { code: number; out: string } {
  const r = spawnSync("systemd-analyze", ["verify", path], { encoding: "utf8" });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

describe("service install", () => {
  test("writes a hardened unit that systemd-analyze verify accepts without a warning", async () => {
    const units = join(root, "units");
    const args = ["ctrl", "--data", "/var/lib/smsg", "service", "--unit-dir", units, "--shutdown-grace", "20"];
    const installed = await cli([...args, "install", "--no-enable"]); // never a real service from a test
    const path = join(units, "smsg-relay.service");
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain(`wrote ${path}`);
    expect(installed.stdout).toContain(systemdRunning ? "(--no-enable)" : "no service manager is present: systemd is not running on this machine");
    const unit = readFileSync(path, "utf8");
    for (const line of [
      "User=smsg",
      "Group=smsg",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "StateDirectory=smsg",
      "LogsDirectory=smsg",
      "Restart=on-failure",
      "CapabilityBoundingSet=",
      "TimeoutStopSec=35",
    ]) {
      expect(unit.split("\n")).toContain(line);
    }
    expect(unit).toMatch(/^ExecStart=\S+ \S*src\/main\.ts relay --service --data \/var\/lib\/smsg --config \/etc\/smsg\/relay\.toml$/m);
    expect(unit).not.toContain("MemoryDenyWriteExecute"); // Bun's JIT needs W+X pages
    expect(verify(path)).toEqual({ code: 0, out: "" });

    const status = await ok([...args, "status"]);
    if (systemdRunning) {
      expect(status).toContain(`unit: ${path} (installed)`);
      return; // start and stop would act on the real service manager
    }
    expect(status).toContain("no service manager is present: systemd is not running on this machine");
    expect(status).toContain(`unit: ${path} (written)`);
    for (const action of ["start", "stop"]) {
      const r = await cli([...args, action]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`smsg: cannot ${action} the service: no service manager is present: systemd is not running on this machine (a container?); run \`smsg relay\` in the foreground instead`);
    }
    expect(await ok([...args, "uninstall"])).toContain(`removed ${path}`);
    expect(existsSync(path)).toBe(false);
    expect((await ok([...args, "status"])).trim().split("\n")[1]).toBe(`unit: ${path} (not written; run \`service install\`)`);
  });

  test("verify catches a broken unit (so the check above can fail)", () => {
    const bad = join(root, "bad.service");
    writeFileSync(bad, systemdUnit({ command: ["/usr/bin/true"], dataDir: "/var/lib/smsg", user: "smsg", shutdownGrace: 30 }).replace("ProtectSystem=strict", "ProtectSystem=strictest"));
    expect(verify(bad).out).toContain("Failed to parse protect system value, ignoring: strictest");
  });

  test("a data dir outside /var/lib gets ReadWritePaths; odd characters are quoted", () => {
    const path = join(root, "odd.service");
    const unit = systemdUnit({ command: ["/usr/bin/true"], dataDir: "/srv/smsg data", user: "smsg", config: "/etc/smsg/100%.toml", shutdownGrace: 5 });
    writeFileSync(path, unit);
    expect(unit).toContain('ReadWritePaths="/srv/smsg data"');
    expect(unit).toContain('ExecStart=/usr/bin/true relay --service --data "/srv/smsg data" --config /etc/smsg/100%%.toml');
    expect(verify(path)).toEqual({ code: 0, out: "" });
  });

  test("the launchd plist is well-formed XML with the relay's arguments", () => {
    const path = join(root, "org.smsg.relay.plist");
    writeFileSync(path, launchdPlist({ command: ["/usr/local/bin/smsg"], dataDir: "/Library/Application Support/smsg", user: "_smsg", shutdownGrace: 30 }));
    const r = spawnSync("xmllint", ["--noout", path], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const text = readFileSync(path, "utf8");
    expect(text).toContain("<string>org.smsg.relay</string>");
    expect(text).toContain("<string>/Library/Application Support/smsg</string>");
    expect(text).toContain("<key>SuccessfulExit</key>\n    <false/>");
  });

  test("Windows: the commands are printed, with quoted paths", () => {
    const lines = windowsCommands({ command: ["C:\\Program Files\\smsg\\smsg.exe"], dataDir: "C:\\ProgramData\\smsg", user: "LocalService", shutdownGrace: 30 });
    expect(lines[0]).toBe(
      'schtasks /Create /TN smsg-relay /SC ONSTART /RU "NT AUTHORITY\\LOCALSERVICE" /RL LIMITED /TR "\\"C:\\Program Files\\smsg\\smsg.exe\\" relay --service --data C:\\ProgramData\\smsg"',
    );
    expect(lines.some((l) => l.startsWith("sc.exe create smsg-relay "))).toBe(true);
  });
});
