// The command line as a contract: every command answers --help, and expected
// failures are one sentence on stderr with exit status 1, never a stack trace.

import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { spawnSync } from "bun";
import { tmpdir } from "node:os";
import { MAIN, Scratch, cli } from "../support/harness.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

const COMMANDS = [
  ["relay"],
  ["ctrl"],
  ["ctrl", "users"],
  ["ctrl", "users", "add"],
  ["ctrl", "users", "approve"],
  ["register-code"],
  ["client"],
  ["status"],
  ["send"],
  ["inbox"],
  ["outbox"],
  ["show"],
  ["users"],
  ["contacts"],
  ["accept"],
  ["delete"],
  ["trash"],
  ["restore"],
  ["empty-trash"],
  ["forward"],
  ["export"],
  ["demo"],
];

function oneSentence(stderr: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("smsg: ");
  expect(stderr).not.toContain("    at ");
}

describe("the command line", () => {
  test.each(COMMANDS)("smsg %s --help", async (...cmd) => {
    const r = await cli([...cmd, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: smsg ${cmd.join(" ")}`);
  });

  test("no client running for a data dir: one sentence, exit 1", async () => {
    for (const cmd of [["status"], ["inbox"], ["outbox"], ["users"], ["contacts"], ["trash"], ["empty-trash"], ["delete", "0"], ["restore", "0"], ["forward", "0", "--to", "bob"], ["export", "--mbox", s.path("x.mbox")]]) {
      const r = await cli([...cmd, "--data", s.path("nothing-here")]);
      expect(r.code).toBe(1);
      oneSentence(r.stderr);
      expect(r.stderr).toContain("no client is running for");
    }
  });

  test("no password source and no terminal: register-code says how to give one", async () => {
    const r = await cli(["register-code", "--user", "alice"]);
    expect(r.code).toBe(1);
    oneSentence(r.stderr);
    expect(r.stderr).toContain("--password-file");
  });

  test("bad user ids, addresses and codes are named", async () => {
    const pw = s.path("pw");
    writeFileSync(pw, "x\n");
    const cases: [string[], string][] = [
      [["register-code", "--user", "Alice!", "--password-file", pw], "is not a valid user id"],
      [["client", "--server", "nohostport", "--user", "alice", "--data", s.path("c"), "--password-file", pw], "--server must be HOST:PORT"],
      [["client", "--server", "127.0.0.1:1", "--user", "alice", "--data", s.path("c"), "--password-file", pw, "--ui", "0.0.0.0:8080"], "--ui must be"],
      [["client", "--server", "127.0.0.1:1", "--user", "alice", "--data", s.path("c"), "--password-file", pw, "--relay-key", "smsgrelay1qqqq"], "is not a relay key"],
      [["ctrl", "--data", s.path("relay"), "users", "add", "bob", "smsg1notacode"], "is not a registration code"],
      [["register-code", "--user", "alice", "--password-file", s.path("missing")], "cannot read the password file"],
    ];
    for (const [args, needle] of cases) {
      const r = await cli(args);
      expect([args.join(" "), r.code]).toEqual([args.join(" "), 1]);
      oneSentence(r.stderr);
      expect(r.stderr).toContain(needle);
    }
  });

  test("the command runs from any folder, not only the repository's (its pages' JSX names its runtime itself)", () => {
    for (const cmd of [["--help"], ["client", "--help"], ["relay", "--help"]]) {
      const r = spawnSync([process.execPath, MAIN, ...cmd], { cwd: tmpdir(), stdout: "pipe", stderr: "pipe" });
      expect([cmd.join(" "), r.exitCode, r.stderr.toString()]).toEqual([cmd.join(" "), 0, ""]);
      expect(r.stdout.toString()).toContain("Usage: smsg");
    }
  });
});
