// The first line of a password file (SPEC.md §3.2): what a BOM, a CR, a missing newline and
// bytes that are not UTF-8 mean, on real files.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError } from "../../src/cli/cli-error.ts";
import { readPassword } from "../../src/client/password.ts";

const dir = mkdtempSync(join(tmpdir(), "smsg-pwfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(bytes: Uint8Array | string): string {
  const path = join(dir, `pw${n++}`);
  writeFileSync(path, bytes);
  return path;
}

describe("the password file", () => {
  test("the first line, without its CR; a file without a newline is all one line; spaces are kept", async () => {
    expect(await readPassword(file("hunter2\nsecond line\n"), "")).toBe("hunter2");
    expect(await readPassword(file("hunter2\r\n"), "")).toBe("hunter2");
    expect(await readPassword(file("hunter2"), "")).toBe("hunter2");
    expect(await readPassword(file(" two words \n"), "")).toBe(" two words ");
    expect(await readPassword(file("a\rb\n"), "")).toBe("a\rb");
  });

  test("a UTF-8 byte-order mark at the start is not part of the password", async () => {
    const bom = Uint8Array.of(0xef, 0xbb, 0xbf);
    expect(await readPassword(file(new Uint8Array([...bom, ...Buffer.from("pässword\r\n")])), "")).toBe("pässword");
  });

  test("bytes that are not UTF-8 are refused, not replaced", async () => {
    const p = file(Uint8Array.of(0x70, 0xff, 0x77, 0x0a));
    await expect(readPassword(p, "")).rejects.toThrow(CliError);
    await expect(readPassword(p, "")).rejects.toThrow("is not UTF-8 text");
  });

  test("an empty first line is refused", async () => {
    await expect(readPassword(file("\nhunter2\n"), "")).rejects.toThrow("is empty");
  });
});
