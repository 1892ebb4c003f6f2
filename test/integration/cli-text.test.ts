// What the CLI takes in and prints of others' text (SECURITY.md §14 #3 and the send flags):
// `send --body-file -` reads the body from stdin; `inbox` and `show` print a sender's
// control sequences (ESC, OSC 52, CSI, C1, CR, a fake From line) as visible escapes and
// --json keeps the text exact. Real relay and client processes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { writeFileSync } from "node:fs";
import { MAIN, ROOT, Scratch, cli, inbox, ok, passwordFile, register, startClient, startRelay, waitConnected, waitFor, type RelayHandle } from "../support/harness.ts";

const s = new Scratch();
let relay: RelayHandle;

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
  for (const u of ["ann", "ben"]) {
    const pw = passwordFile(s.path("pw"), u, `${u}'s password`);
    await register(relay.dataDir, u, pw);
    s.track(await startClient({ user: u, server: `127.0.0.1:${relay.port}`, dataDir: s.path(u), passwordFile: pw, relayKey: relay.key }));
  }
  await Promise.all([waitConnected(s.path("ann")), waitConnected(s.path("ben"))]);
}, 120_000);
afterAll(() => s.cleanup());

/** `smsg ARGS` with `input` on its stdin. */
async function cliWithStdin(args: string[], input: string) {
  const p = spawn([process.execPath, MAIN, ...args], { cwd: ROOT, env: { ...process.env, SMSG_PASSWORD: "" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  p.stdin.write(input);
  await p.stdin.end();
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

const received = (id: string) => waitFor(`ben to receive ${id}`, async () => (await inbox(s.path("ben"))).find((m) => m.id === id), 30_000, 100);

describe("send", () => {
  test("--body-file - reads the body from stdin", async () => {
    const body = "from stdin\nsecond line, not in argv\n";
    const r = await cliWithStdin(["send", "--data", s.path("ann"), "--to", "ben", "--subject", "piped", "--body-file", "-"], body);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const id = r.stdout.match(/[0-9a-f]{32}/)![0];
    await received(id);
    const m = JSON.parse(await ok(["show", id, "--data", s.path("ben"), "--json"])) as { body: string };
    expect(m.body).toBe(body);
  });

  test("the help lists --body-file before --body and says argv is visible", async () => {
    const help = (await ok(["send", "--help"]));
    expect(help.indexOf("--body-file")).toBeGreaterThan(0);
    expect(help.indexOf("--body-file")).toBeLessThan(help.indexOf("--body <"));
    expect(help).toContain("visible to other local users");
  });
});

// What a hostile sender writes: clear the screen, home the cursor and print a fake header;
// write the clipboard (OSC 52); a C1 CSI; a bidi override; a newline to add a header line.
const SUBJECT = "Invoice\x1b[2J\x1b[1;1HFrom: boss\x1b]52;c;cm0gLXJmIH4=\x07 \u009b31mred\u202efdp.exe\nFrom: ceo";
const BODY = "Dear Ben,\n\tplease pay.\x1b]52;c;cm0gLXJmIH4=\x1b\\\x1b[8mhidden\x1b[0m\rFrom: boss\n\x1b]0;title\x07\u0085end\n";
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe("others' text on the terminal", () => {
  let id: string;
  beforeAll(async () => {
    const bodyFile = s.path("body.txt");
    writeFileSync(bodyFile, BODY);
    const att = s.path("report.pdf");
    writeFileSync(att, "%PDF");
    id = (await ok(["send", "--data", s.path("ann"), "--to", "ben", "--subject", SUBJECT, "--body-file", bodyFile, "--attach", att])).match(/[0-9a-f]{32}/)![0];
    await received(id);
  }, 60_000);

  test("inbox: one line per message, every control sequence visible", async () => {
    const out = await ok(["inbox", "--data", s.path("ben")]);
    expect(out).not.toMatch(RAW);
    expect(out).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    const line = out.split("\n").find((l) => l.startsWith(id))!;
    expect(line).toContain("Invoice\\x1b[2J\\x1b[1;1HFrom: boss\\x1b]52;c;cm0gLXJmIH4=\\x07 \\x9b31mred\\u202efdp.exe\\x0aFrom: ceo");
    expect(out.split("\n").filter((l) => l.includes("ceo"))).toEqual([line]);
  });

  test("show: the headers stay four lines, the body keeps its lines, escapes are visible", async () => {
    const out = await ok(["show", id, "--data", s.path("ben")]);
    expect(out).not.toMatch(RAW);
    const lines = out.split("\n");
    expect(lines.filter((l) => l.startsWith("From:"))).toEqual(["From: ann"]);
    expect(lines[3]).toBe("Subject: Invoice\\x1b[2J\\x1b[1;1HFrom: boss\\x1b]52;c;cm0gLXJmIH4=\\x07 \\x9b31mred\\u202efdp.exe\\x0aFrom: ceo");
    expect(lines[4]).toBe("Attachment: report.pdf (4 bytes)");
    expect(out).toContain("\nDear Ben,\n\tplease pay.\\x1b]52;c;cm0gLXJmIH4=\\x1b\\\\x1b[8mhidden\\x1b[0m\\x0dFrom: boss\n\\x1b]0;title\\x07\\x85end\n");
  });

  test("--json keeps subject and body exact", async () => {
    const m = JSON.parse(await ok(["show", id, "--data", s.path("ben"), "--json"])) as { subject: string; body: string };
    expect(m.subject).toBe(SUBJECT);
    expect(m.body).toBe(BODY);
    const list = JSON.parse(await ok(["inbox", "--data", s.path("ben"), "--json"])) as { id: string; subject: string }[];
    expect(list.find((x) => x.id === id)?.subject).toBe(SUBJECT);
  });

  test("an attachment name with a control character is refused at send, in one sentence", async () => {
    const att = s.path("evil\x1b]52;c;eA==\x07.pdf");
    writeFileSync(att, "x");
    const r = await cli(["send", "--data", s.path("ann"), "--to", "ben", "--subject", "x", "--body", "x", "--attach", att]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(RAW);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
