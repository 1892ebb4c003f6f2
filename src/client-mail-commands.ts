// The CLI's everyday mailbox commands (README "Commands against a running client", CLIENT.md
// §2.8): delete, trash, restore, empty-trash, forward and export, each one request to the
// running client's local API, so they do exactly what the mailbox's buttons do.

import type { Command } from "commander";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { ApiClient } from "./client/api-client.ts";
import type { ApiSummary as Summary } from "./client/api.ts";
import { CliError } from "./cli/cli-error.ts";
import { EXPORT_FOLDERS } from "./client/mail-actions.ts";
import { terminalSafe as t } from "./client/terminal-text.ts";

/** What the export command tells on stderr, every time: the file is not protected by the store. */
export const PLAINTEXT_WARNING = "smsg: the export is plaintext: anyone who can read FILE reads these messages, so keep it safe and delete it when done";

export function addMailCommands(program: Command, out: (line: string) => void): void {
  const dataOption = (c: Command) => c.requiredOption("--data <dir>", "the client's data dir");
  const id = (raw: string) => encodeURIComponent(raw);

  dataOption(program.command("delete <id>").description("move a message (received or sent) to the Trash")).action(async (mid: string, o: { data: string }) => {
    await new ApiClient(o.data).post(`/api/messages/${id(mid)}/delete`, {});
    out(`moved ${t(mid)} to the Trash (\`smsg restore ${t(mid)}\` brings it back)`);
  });

  dataOption(program.command("trash").description("messages in the Trash, most recently deleted first"))
    .option("--json", "JSON output (the same rows as `inbox --json`)")
    .action(async (o: { data: string; json?: boolean }) => {
      const list = await new ApiClient(o.data).get<Summary[]>("/api/trash");
      if (o.json) return out(JSON.stringify(list));
      if (list.length === 0) return out("trash is empty");
      for (const m of list) {
        const att = m.attachments.length ? ` [${m.attachments.length} attachment(s)]` : "";
        out(`${t(m.id)}  ${t(m.flags || "-").padEnd(2)} ${t(m.date)}  ${t(m.from)} -> ${t(m.to.join(","))}  ${t(m.subject)}${att}`);
      }
    });

  dataOption(program.command("restore <id>").description("move a message from the Trash back to its folder")).action(async (mid: string, o: { data: string }) => {
    await new ApiClient(o.data).post(`/api/messages/${id(mid)}/restore`, {});
    out(`restored ${t(mid)}`);
  });

  dataOption(program.command("empty-trash").description("remove every message in the Trash for good, with its attachments")).action(async (o: { data: string }) => {
    const r = await new ApiClient(o.data).post<{ removed: number }>("/api/trash/empty", {});
    out(r.removed === 0 ? "the Trash was already empty" : `removed ${r.removed} message(s) for good`);
  });

  dataOption(program.command("forward <id>").description('forward a message with its attachments ("Fwd: ", the original quoted)'))
    .requiredOption("--to <users>", "recipients, comma separated")
    .option("--body <text>", "your note above the quoted original (visible to other local users in the process list)")
    .action(async (mid: string, o: { data: string; to: string; body?: string }) => {
      const r = await new ApiClient(o.data).post<{ id: string; queued: string[] }>("/api/forward", { id: mid, to: o.to.split(","), body: o.body });
      out(r.queued.length ? `queued ${t(r.id)} (offline: ${r.queued.map((u) => t(u)).join(", ")}; it goes when they connect)` : `sending ${t(r.id)}`);
    });

  dataOption(program.command("export").description("write the mailbox, or one folder, to an mbox file (plaintext) for another mail program"))
    .requiredOption("--mbox <file>", "the mbox file to create (an existing file is never overwritten)")
    .option("--folder <name>", `only this folder: ${EXPORT_FOLDERS.join(", ")}`)
    .action(async (o: { data: string; mbox: string; folder?: string }) => {
      if (o.folder !== undefined && !(EXPORT_FOLDERS as readonly string[]).includes(o.folder)) {
        throw new CliError(`--folder must be one of ${EXPORT_FOLDERS.join(", ")}, not "${o.folder}"`);
      }
      const api = new ApiClient(o.data);
      const res = await api.download(`/api/export/mbox${o.folder ? `?folder=${o.folder}` : ""}`);
      let fd: number;
      try {
        fd = openSync(o.mbox, "wx", 0o600);
      } catch (e) {
        await res.body?.cancel();
        throw new CliError((e as { code?: string }).code === "EEXIST" ? `${o.mbox} already exists: choose a new file name` : `cannot create ${o.mbox}`);
      }
      console.error(PLAINTEXT_WARNING.replace("FILE", o.mbox));
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
        }
      } catch (e) {
        closeSync(fd);
        rmSync(o.mbox, { force: true }); // half an export is worse than none: it looks whole
        throw new CliError(`the export stopped (${e instanceof Error ? e.message : String(e)}); ${o.mbox} was removed`);
      }
      closeSync(fd);
      out(`exported ${res.headers.get("x-smsg-messages") ?? "the"} message(s) to ${t(o.mbox)}`);
    });
}
