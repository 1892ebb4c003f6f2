// The relay starts itself again with the allocator's settings when the environment lacks
// them (src/cli/allocator-env.ts, README "Memory allocator"); a setting the person gave is kept.

import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ALLOCATOR_ENV, allocatorRestart } from "../../src/cli/allocator-env.ts";
import { Scratch, startRelay } from "../support/harness.ts";

const BUN = "/usr/bin/bun";
const s = new Scratch();
afterAll(() => s.cleanup());

function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, "latin1").split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

describe("allocatorRestart", () => {
  test("adds the settings, keeping the rest of the environment, bun's flags and the arguments", () => {
    const r = allocatorRestart([BUN, "/app/src/main.ts", "relay", "--data", "d"], ["--smol"], BUN, { HOME: "/h", X: "1" });
    expect(r).toEqual({ file: BUN, args: [BUN, "--smol", "/app/src/main.ts", "relay", "--data", "d"], env: { HOME: "/h", X: "1", ...ALLOCATOR_ENV } });
  });

  test("a compiled binary is started as itself, without its embedded entry", () => {
    const r = allocatorRestart(["bun", "/$bunfs/root/smsg", "client", "--user", "a"], [], "/usr/local/bin/smsg", {});
    expect(r?.args).toEqual(["/usr/local/bin/smsg", "client", "--user", "a"]);
  });

  test("nothing to do when the person set the variables, even to nothing", () => {
    const given = Object.fromEntries(Object.keys(ALLOCATOR_ENV).map((k) => [k, ""]));
    expect(allocatorRestart([BUN, "/app/src/main.ts", "relay"], [], BUN, given)).toBeUndefined();
  });
});

describe("smsg relay", () => {
  test("runs with the allocator's settings, or with the person's", async () => {
    const plain = s.track(await startRelay({ dataDir: s.path("relay1") }));
    const env = environOf(plain.proc.proc.pid);
    for (const [k, v] of Object.entries(ALLOCATOR_ENV)) expect(env[k]).toBe(v);
    const own = s.track(await startRelay({ dataDir: s.path("relay2"), env: { MIMALLOC_PURGE_DELAY: "10" } }));
    expect(environOf(own.proc.proc.pid).MIMALLOC_PURGE_DELAY).toBe("10");
  }, 60_000);
});
