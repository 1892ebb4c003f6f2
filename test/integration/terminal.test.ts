// The relay's small window: run in a terminal (a pty made by script(1)), it keeps
// a live status of connected users, messages and pending registrations below the log lines,
// and still prints the `relay key:` and `listening on` lines the tests and users read.

import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { MAIN, Scratch, ok, passwordFile, register, waitFor } from "../support/harness.ts";
import { RawClient } from "../support/raw-client.ts";
import { deriveUserKeys } from "../../src/protocol/keys.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

const plain = (t: string) => t.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

describe("relay in a terminal", () => {
  test("a live status below the log lines; the start lines stay", async () => {
    const data = s.path("relay");
    // script(1) runs the command through $SHELL -c. `exec` makes the relay the terminal's only
    // process: otherwise a shell that does not exec its last command (dash, /bin/sh, which
    // script uses when SHELL is unset, as under CI) also gets the Ctrl-C, dies of it, and
    // script reports 130 whatever the relay did.
    const cmd = `exec ${process.execPath} ${MAIN} relay --data ${data} --listen 127.0.0.1:0`;
    const p = spawn(["script", "-qfec", cmd, "/dev/null"], {
      stdout: "pipe",
      stderr: "pipe",
      stdin: "pipe",
      env: { ...process.env, COLUMNS: "120", SHELL: "/bin/sh" },
    });
    s.track({ stop: async () => (p.kill("SIGKILL"), p.exited) }); // only if the test failed before Ctrl-C
    let out = "";
    const decoder = new TextDecoder();
    const reading = (async () => {
      for await (const chunk of p.stdout) out += decoder.decode(chunk, { stream: true });
    })();
    const port = Number(
      await waitFor("the listening line", () => /^listening on 127\.0\.0\.1:(\d+)\r?$/m.exec(plain(out))?.[1]),
    );
    expect(plain(out)).toMatch(/^relay key: smsgrelay1\w+\r?$/m);
    // The status may reach us in more than one piece: wait for the whole first line.
    await waitFor("the status line", () => (out.includes("\x1b[7msmsg relay · up ") && plain(out).includes("0 users connected")) || undefined);

    const pw = passwordFile(s.path("pw"), "wes", "wes's password");
    await register(data, "wes", pw);
    await ok(["ctrl", "--data", data, "users", "add", "xia"]);
    const wes = await deriveUserKeys("wes", "wes's password");
    const w = await RawClient.login("127.0.0.1", port, "wes", wes.login);
    w.client.publish("wes", wes.identity.seed, wes.identity.publicKey);
    expect((await RawClient.login("127.0.0.1", port, "xia", x25519Generate())).status).toBe("auth-failed");
    await waitFor("wes and the pending registration in the status", () => {
      const t = plain(out);
      return t.includes("1 user connected: wes") && t.includes("1 pending registration") || undefined;
    });
    // Log lines are printed above the status: the status is cleared (cursor up, erase line) first.
    expect(out).toMatch(/\x1b\[1A\x1b\[2K\r[^\n]*info login user=wes addr=127\.0\.0\.1/);
    // Ctrl-C in the terminal stops it gracefully.
    p.stdin.write("\x03");
    await p.stdin.flush();
    expect(await p.exited).toBe(0);
    await reading; // the last lines may still be in the pipe when the process has exited
    expect(plain(out)).toContain("stopping (SIGINT)");
    expect(plain(out)).toContain("info relay-stop");
  }, 30_000);
});
