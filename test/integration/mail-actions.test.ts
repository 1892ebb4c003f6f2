// The everyday actions through the real CLI and local API of running clients (CLIENT.md §2.8,
// README "Commands"): delete, trash, restore and empty-trash (the files gone from the data
// dir), forward with the stored attachments, drafts, mark unread, and export as .eml and mbox
// read back by Python's own mail parser (attachments byte-identical, non-Latin subjects intact).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";
import {
  Scratch,
  cli,
  inbox,
  ok,
  waitFor,
  type Summary,
} from "../support/harness.ts";
import { startWorld } from "../support/world.ts";

const s = new Scratch();
const READ_MAIL = join(import.meta.dir, "../support/read-mail.py");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  await startWorld(s, { users: ["alice", "bob", "carol"] });
}, 120_000);
afterAll(() => s.cleanup());

/** A request to a running client's local API with its owner's token (what the CLI does). */
async function api(user: string, path: string, init: RequestInit = {}): Promise<Response> {
  const { url } = JSON.parse(readFileSync(s.path(user, "daemon.json"), "utf8")) as { url: string };
  const token = readFileSync(s.path(user, "api-token"), "utf8").trim();
  return fetch(url + path, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers ?? {}) } });
}

async function sendWith(from: string, to: string, subject: string, body: string, files: [string, Uint8Array][]): Promise<string> {
  const dir = s.path(`files-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir);
  const attach = files.flatMap(([name, bytes]) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return ["--attach", p];
  });
  const out = await ok(["send", "--data", s.path(from), "--to", to, "--subject", subject, "--body", body, ...attach]);
  return out.match(/[0-9a-f]{32}/)![0]!;
}

const arrived = (user: string, id: string) => waitFor(`${user} to get ${id}`, async () => (await inbox(s.path(user))).find((m) => m.id === id), 30_000, 100);
const trash = async (user: string) => JSON.parse(await ok(["trash", "--data", s.path(user), "--json"])) as Summary[];
const files = (user: string) => readdirSync(s.path(user, "client.db-attachments")).sort();

function oneSentence(stderr: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("smsg: ");
}

describe("delete, trash, restore, empty-trash", () => {
  test("a deleted message leaves the inbox for the Trash (same rows as inbox --json), comes back, and is removed for good with its files", async () => {
    const bytes = randomBytes(150_000);
    const id = await sendWith("alice", "bob", "to be deleted", "bye", [["doc.bin", bytes]]);
    const row = await arrived("bob", id);
    const before = files("bob");
    expect(before.length).toBeGreaterThanOrEqual(1);

    expect((await ok(["delete", id, "--data", s.path("bob")])).trim()).toBe(`moved ${id} to the Trash (\`smsg restore ${id}\` brings it back)`);
    expect((await inbox(s.path("bob"))).some((m) => m.id === id)).toBe(false);
    expect(await trash("bob")).toEqual([row]);
    expect(await ok(["trash", "--data", s.path("bob")])).toContain("to be deleted [1 attachment(s)]");
    // Deleting twice, or restoring what is not in the Trash, is one sentence and exit 1.
    const again = await cli(["delete", id, "--data", s.path("bob")]);
    expect(again.code).toBe(1);
    oneSentence(again.stderr);
    expect(again.stderr).toContain("is already in the Trash");

    await ok(["restore", id, "--data", s.path("bob")]);
    expect((await inbox(s.path("bob"))).find((m) => m.id === id)).toEqual(row);
    expect(await trash("bob")).toEqual([]);
    const notThere = await cli(["restore", id, "--data", s.path("bob")]);
    expect([notThere.code, notThere.stderr.trim()]).toEqual([1, `smsg: message ${id} is not in the Trash`]);

    // The sender deletes its sent copy the same way.
    await ok(["delete", id, "--data", s.path("alice")]);
    expect((await trash("alice")).map((m) => [m.id, m.from, m.to])).toEqual([[id, "alice", ["bob"]]]);

    await ok(["delete", id, "--data", s.path("bob")]);
    expect((await ok(["empty-trash", "--data", s.path("bob")])).trim()).toBe("removed 1 message(s) for good");
    expect(await trash("bob")).toEqual([]);
    expect((await inbox(s.path("bob"))).some((m) => m.id === id)).toBe(false);
    const gone = before.filter((f) => !files("bob").includes(f));
    expect(gone).toHaveLength(1); // the attachment's file, unlinked
    const missing = await cli(["show", id, "--data", s.path("bob")]);
    expect([missing.code, missing.stderr.trim()]).toEqual([1, `smsg: no message ${id}`]);
    expect((await ok(["empty-trash", "--data", s.path("bob")])).trim()).toBe("the Trash was already empty");
  }, 60_000);
});

describe("forward", () => {
  test("forward sends the stored attachments under their names, Fwd: once, the original quoted, the note on top", async () => {
    const pdf = randomBytes(300_000);
    const photo = randomBytes(70_000);
    const id = await sendWith("alice", "bob", "Fwd: Report 报告", "line one\nline two", [["report.pdf", pdf], ["фото.jpg", photo]]);
    await arrived("bob", id);
    const out = await ok(["forward", id, "--data", s.path("bob"), "--to", "carol", "--body", "FYI, see below"]);
    const fid = out.match(/[0-9a-f]{32}/)![0]!;
    const got = await arrived("carol", fid);
    expect(got.subject).toBe("Fwd: Report 报告");
    expect(got.from).toBe("bob");
    expect(got.attachments).toEqual([{ name: "report.pdf", size: pdf.length }, { name: "фото.jpg", size: photo.length }]);
    const full = JSON.parse(await ok(["show", fid, "--data", s.path("carol"), "--json", "--save-attachments", s.path("carol-saved")])) as { body: string };
    expect(full.body).toMatch(/^FYI, see below\n\nOn \d{4}-\d\d-\d\d \d\d:\d\d, alice wrote:\n> line one\n> line two\n$/);
    expect(sha(readFileSync(s.path("carol-saved", "report.pdf")))).toBe(sha(pdf));
    expect(sha(readFileSync(s.path("carol-saved", "фото.jpg")))).toBe(sha(photo));
    // bob's original is untouched, and his sent copy carries its own copies of the files.
    const original = JSON.parse(await ok(["show", id, "--data", s.path("bob"), "--json"])) as Summary;
    expect(original.attachments.map((a) => a.name)).toEqual(["report.pdf", "фото.jpg"]);

    const bad = await cli(["forward", id, "--data", s.path("bob"), "--to", "nobody-here"]);
    expect(bad.code).toBe(1);
    oneSentence(bad.stderr);
    expect(bad.stderr).toContain("unknown recipient");
  }, 60_000);
});

describe("drafts and unread through the API", () => {
  test("a draft is saved without recipients, listed, resumed, and removed by the send that uses it", async () => {
    const r = await api("alice", "/api/drafts", { method: "POST", body: JSON.stringify({ to: "", subject: "", body: "half a thought" }) });
    expect(r.status).toBe(200);
    const { id } = (await r.json()) as { id: string };
    await api("alice", "/api/drafts", { method: "POST", body: JSON.stringify({ id, to: "bob", subject: "whole", body: "a whole thought" }) });
    const list = (await (await api("alice", "/api/drafts")).json()) as { id: string; to: string; body: string }[];
    expect(list.filter((d) => d.id === id).map((d) => [d.to, d.body])).toEqual([["bob", "a whole thought"]]);
    const sent = (await (await api("alice", "/api/send", { method: "POST", body: JSON.stringify({ to: ["bob"], subject: "whole", body: "a whole thought", draft: id }) })).json()) as { id: string };
    await arrived("bob", sent.id);
    expect((await api("alice", `/api/drafts/${id}`)).status).toBe(404);
  }, 30_000);

  test("mark as unread brings the U flag back; a sent message cannot be", async () => {
    const id = await sendWith("alice", "bob", "read me twice", "x", []);
    await arrived("bob", id);
    await ok(["show", id, "--data", s.path("bob")]);
    expect((await inbox(s.path("bob"))).find((m) => m.id === id)!.flags).toBe("");
    expect((await api("bob", `/api/messages/${id}/unread`, { method: "POST" })).status).toBe(200);
    expect((await inbox(s.path("bob"))).find((m) => m.id === id)!.flags).toBe("U");
    const r = await api("alice", `/api/messages/${id}/unread`, { method: "POST" });
    expect([r.status, await r.json()]).toEqual([400, { error: "only a received message can be marked unread" }]);
  }, 30_000);
});

describe("export", () => {
  function python(kind: "eml" | "mbox", file: string): unknown {
    const r = spawnSync(["python3", READ_MAIL, kind, file], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`read-mail.py failed: ${r.stderr.toString()}`);
    return JSON.parse(r.stdout.toString());
  }

  test("a message as .eml: Python's email parser reads the UTF-8 subject, the text and byte-identical attachments", async () => {
    const bin = randomBytes(200_001); // not a multiple of 3 or 57: the base64 ends oddly
    const subject = "مرحبا — 会议纪要 — Überprüfung 📎 and a subject long enough to need several encoded words";
    const body = "Line one\nФраза два\n\nFrom the start of a line\n";
    const id = await sendWith("alice", "bob", subject, body, [["data.bin", bin], ["名前 \"quoted\".txt", new TextEncoder().encode("hi")]]);
    await arrived("bob", id);
    const res = await api("bob", `/api/messages/${id}/eml`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("message/rfc822");
    const raw = new Uint8Array(await res.arrayBuffer());
    const text = new TextDecoder().decode(raw);
    // RFC 2047: the header lines are ASCII, none longer than 78 characters.
    const head = text.slice(0, text.indexOf("\r\n\r\n"));
    expect(/^[\x00-\x7f]*$/.test(head)).toBe(true);
    for (const line of text.split("\r\n")) expect(line.length).toBeLessThanOrEqual(78);
    writeFileSync(s.path("m.eml"), raw);
    const m = python("eml", s.path("m.eml")) as Record<string, unknown>;
    expect(m).toMatchObject({
      from: "alice@smsg.invalid",
      to: "bob@smsg.invalid",
      subject,
      messageId: `<${id}@smsg.invalid>`,
      folder: "inbox",
      defects: [],
    });
    expect((m.body as string).replaceAll("\r\n", "\n")).toBe(body);
    expect(m.attachments).toEqual([
      { name: "data.bin", size: bin.length, sha256: sha(bin) },
      { name: "名前 \"quoted\".txt", size: 2, sha256: sha(new TextEncoder().encode("hi")) },
    ]);
  }, 60_000);

  test("the mailbox as mbox: every folder, said to be plaintext on stderr, read back by Python's mailbox module", async () => {
    const bin = randomBytes(123_457);
    const kept = await sendWith("alice", "carol", "Привет, Карол", "inbox text", [["a.bin", bin]]);
    const trashed = await sendWith("alice", "carol", "σκουπίδια", "trash text", []);
    await arrived("carol", kept);
    await arrived("carol", trashed);
    await ok(["delete", trashed, "--data", s.path("carol")]);
    await api("carol", "/api/drafts", { method: "POST", body: JSON.stringify({ to: "alice", subject: "草稿", body: "draft text" }) });

    const file = s.path("carol.mbox");
    const r = await cli(["export", "--data", s.path("carol"), "--mbox", file]);
    expect(r.code).toBe(0);
    expect(r.stderr.trim()).toBe(`smsg: the export is plaintext: anyone who can read ${file} reads these messages, so keep it safe and delete it when done`);
    const all = python("mbox", file) as { subject: string; folder: string; body: string; attachments: unknown[]; defects: string[] }[];
    const inboxCount = (await inbox(s.path("carol"))).length;
    expect(r.stdout.trim()).toBe(`exported ${all.length} message(s) to ${file}`);
    expect(all.filter((m) => m.folder === "inbox")).toHaveLength(inboxCount);
    const by = (subject: string) => all.find((m) => m.subject === subject)!;
    expect(by("Привет, Карол")).toMatchObject({ folder: "inbox", attachments: [{ name: "a.bin", size: bin.length, sha256: sha(bin) }], defects: [] });
    expect(by("σκουπίδια")).toMatchObject({ folder: "trash", defects: [] });
    expect(by("草稿")).toMatchObject({ folder: "drafts", defects: [] });
    expect(by("草稿").body.replaceAll("\r\n", "\n")).toBe("draft text");
    expect(all.every((m) => m.defects.length === 0)).toBe(true);

    // One folder only.
    const trashFile = s.path("trash.mbox");
    await ok(["export", "--data", s.path("carol"), "--mbox", trashFile, "--folder", "trash"]);
    expect((python("mbox", trashFile) as { subject: string }[]).map((m) => m.subject)).toEqual(["σκουπίδια"]);

    // Bad input: a folder that does not exist, a file that does: one sentence, nothing lost.
    const badFolder = await cli(["export", "--data", s.path("carol"), "--mbox", s.path("x.mbox"), "--folder", "spam"]);
    expect([badFolder.code, badFolder.stderr.trim()]).toEqual([1, 'smsg: --folder must be one of inbox, outbox, trash, drafts, not "spam"']);
    expect(existsSync(s.path("x.mbox"))).toBe(false);
    const before = readFileSync(trashFile);
    const exists = await cli(["export", "--data", s.path("carol"), "--mbox", trashFile]);
    expect([exists.code, exists.stderr.trim()]).toEqual([1, `smsg: ${trashFile} already exists: choose a new file name`]);
    expect(Buffer.compare(readFileSync(trashFile), before)).toBe(0);
  }, 60_000);
});
