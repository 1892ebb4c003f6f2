// Daily log files (SPEC.md §10) over real files with an injected clock: the roll at UTC
// midnight without a restart, pruning by --log-days, the tail the admin page shows.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DailyLog, pruneLogs, tailFile } from "../../src/server/daily-log.ts";
import { tempDir } from "../support/harness.ts";

const root = tempDir("smsg-log-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("daily log", () => {
  test("one file per UTC day, rolled by the first line after midnight", () => {
    const dir = join(root, "roll");
    let t = Date.parse("2031-03-09T23:59:59.500Z");
    const echoed: string[] = [];
    const log = new DailyLog({ dir, days: 30, now: () => new Date(t), echo: (l) => echoed.push(l) });
    expect(log.path).toBe(join(dir, "relay-2031-03-09.log"));
    log.info("login", { user: "alice", addr: "127.0.0.1" });
    t += 400; // 23:59:59.900
    log.warn("login-failed", { user: "bob", addr: "::1", key: "0badcafe" });
    t += 200; // 00:00:00.100 the next day
    log.info("disconnect", { user: "alice", addr: "127.0.0.1", reason: "client closing" });
    log.close();
    expect(readdirSync(dir).sort()).toEqual(["relay-2031-03-09.log", "relay-2031-03-10.log"]);
    const day1 = readFileSync(join(dir, "relay-2031-03-09.log"), "utf8").trimEnd().split("\n");
    const day2 = readFileSync(join(dir, "relay-2031-03-10.log"), "utf8").trimEnd().split("\n");
    expect(day1).toEqual([
      "2031-03-09T23:59:59.500Z info login user=alice addr=127.0.0.1",
      "2031-03-09T23:59:59.900Z warn login-failed user=bob addr=::1 key=0badcafe",
    ]);
    expect(day2).toEqual(['2031-03-10T00:00:00.100Z info disconnect user=alice addr=127.0.0.1 reason="client closing"']);
    expect(echoed).toEqual([...day1, ...day2]);
  });

  test("appends to today's file across restarts", () => {
    const dir = join(root, "append");
    const now = () => new Date("2031-03-10T08:00:00Z");
    for (const user of ["alice", "bob"]) {
      const log = new DailyLog({ dir, days: 30, now });
      log.info("login", { user });
      log.close();
    }
    expect(readFileSync(join(dir, "relay-2031-03-10.log"), "utf8").trimEnd().split("\n")).toHaveLength(2);
  });

  test("keeps --log-days days, today included, at start and at each roll; 0 keeps all", () => {
    const dir = join(root, "prune");
    mkdirSync(dir);
    for (const d of ["2031-02-27", "2031-02-28", "2031-03-01", "2031-03-02"]) writeFileSync(join(dir, `relay-${d}.log`), "x\n");
    writeFileSync(join(dir, "notes.txt"), "not a log\n");
    let t = Date.parse("2031-03-03T12:00:00Z");
    const log = new DailyLog({ dir, days: 3, now: () => new Date(t) });
    expect(readdirSync(dir).sort()).toEqual(["notes.txt", "relay-2031-03-01.log", "relay-2031-03-02.log", "relay-2031-03-03.log"]);
    t = Date.parse("2031-03-04T00:00:01Z");
    log.info("tick");
    log.close();
    expect(readdirSync(dir).sort()).toEqual(["notes.txt", "relay-2031-03-02.log", "relay-2031-03-03.log", "relay-2031-03-04.log"]);
    expect(pruneLogs(dir, 0, "2040-01-01")).toEqual([]);
    expect(existsSync(join(dir, "relay-2031-03-02.log"))).toBe(true);
  });

  test("a log folder that cannot be made fails at once", () => {
    writeFileSync(join(root, "a-file"), "");
    expect(() => new DailyLog({ dir: join(root, "a-file", "logs"), days: 1 })).toThrow();
  });

  test("tail gives the last lines, whole lines only", () => {
    const f = join(root, "tail.log");
    writeFileSync(f, Array.from({ length: 50_000 }, (_, i) => `line ${i}`).join("\n") + "\n");
    expect(tailFile(f, 3)).toEqual(["line 49997", "line 49998", "line 49999"]);
    const all = tailFile(f, 1_000_000);
    expect(all[all.length - 1]).toBe("line 49999");
    expect(all.every((l) => /^line \d+$/.test(l))).toBe(true);
    expect(tailFile(join(root, "absent.log"), 5)).toEqual([]);
  });
});
