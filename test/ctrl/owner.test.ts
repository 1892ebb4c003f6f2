// ctrl run by root on a service's data dir (README "Running as a service") acts as
// the dir's owner, so relay.db and its journal stay writable by the relay's own user.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { cli, ok, tempDir } from "../support/harness.ts";

const root = tempDir("smsg-owner-");
afterAll(() => rmSync(root, { recursive: true, force: true }));
const NOBODY = 65534;

describe("ctrl as root", () => {
  test("files it creates in another user's data dir belong to that user", async () => {
    chmodSync(root, 0o755);
    const data = join(root, "data");
    mkdirSync(data, { mode: 0o700 });
    expect(process.getuid?.()).toBe(0); // the tests run as root, as CI does
    chownSync(data, NOBODY, NOBODY);
    await ok(["ctrl", "--data", data, "users", "add", "alice"]);
    for (const f of readdirSync(data)) expect({ f, uid: statSync(join(data, f)).uid }).toEqual({ f, uid: NOBODY });
    expect(readdirSync(data)).toContain("relay.db");
  });

  test("a data dir its owner cannot reach is one clear sentence", async () => {
    const hidden = join(root, "hidden");
    mkdirSync(join(hidden, "data"), { recursive: true, mode: 0o700 });
    chmodSync(hidden, 0o700);
    chownSync(join(hidden, "data"), NOBODY, NOBODY);
    const r = await cli(["ctrl", "--data", join(hidden, "data"), "users", "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`smsg: ${join(hidden, "data")} belongs to uid ${NOBODY}, who cannot reach it: check the folders above it`);
  });
});
