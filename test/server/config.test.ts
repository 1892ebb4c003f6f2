// The relay's settings (README "Config file"): TOML checked against the settings table,
// flags over the file over the defaults, and errors that name the key.

import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, SETTINGS, readConfigFile, resolveSettings } from "../../src/server/config.ts";
import { tempDir } from "../support/harness.ts";

const root = tempDir("smsg-config-");
afterAll(() => rmSync(root, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(root, name);
  writeFileSync(p, text);
  return p;
};

describe("relay config", () => {
  test("defaults, then the file, then the flags", () => {
    const p = file("ok.toml", 'data = "/srv/smsg"\nlisten = ["127.0.0.1:7000", "[::1]:7000"]\nmax_message_mb = 10\nlog_days = 7\nmessages_per_minute = 30\n');
    const fromFile = readConfigFile(p);
    const s = resolveSettings(fromFile, { logDays: "2", listen: ["0.0.0.0:9"] });
    expect(s.data).toBe("/srv/smsg");
    expect(s.listen).toEqual(["0.0.0.0:9"]);
    expect(s.max_message_mb).toBe(10);
    expect(s.log_days).toBe(2);
    expect(s.messages_per_minute).toBe(30);
    expect(s.heartbeat_timeout).toBe(90);
    expect(resolveSettings({}, {}).listen).toEqual(["[::]:7443"]);
    // An empty list of flags is "not given", not an override.
    expect(resolveSettings(fromFile, { listen: [] }).listen).toEqual(["127.0.0.1:7000", "[::1]:7000"]);
  });

  test("every setting has a flag and a documented key", async () => {
    const readme = await Bun.file(join(import.meta.dir, "../../README.md")).text();
    for (const s of SETTINGS) expect(readme).toContain(`\`${s.key}\``);
  });

  test("unknown keys, wrong types, out-of-range values and bad TOML are refused by name", () => {
    const cases: [string, RegExp][] = [
      ["max_mesage_mb = 3\n", /unknown setting "max_mesage_mb"/],
      ['log_days = "seven"\n', /log_days must be a whole number/],
      ["log_days = 1.5\n", /log_days must be a whole number/],
      ["heartbeat_timeout = 0\n", /heartbeat_timeout must be between 1 and 86400/],
      ["listen = []\n", /listen must be a string or a non-empty list/],
      ["[limits]\nmax_connections = 5\n", /unknown setting "limits"/],
      ["data = \n", /not valid TOML at line 1/],
    ];
    for (const [i, [text, re]] of cases.entries()) {
      const p = file(`bad-${i}.toml`, text);
      expect(() => readConfigFile(p)).toThrow(ConfigError);
      expect(() => readConfigFile(p)).toThrow(re);
    }
    expect(() => readConfigFile(join(root, "absent.toml"))).toThrow(/cannot read the config file .*ENOENT/);
    expect(() => resolveSettings({}, { maxConnections: "-1" })).toThrow(/--max-connections must be between 1/);
  });
});
