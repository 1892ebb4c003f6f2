// Export of messages as Internet mail (CLIENT.md §2.8): one message as a MIME `.eml` (RFC 5322,
// RFC 2045-2047 and RFC 2231), many as an mbox, so another mail program can read them. The
// output is plaintext by nature; the callers say so. Headers carry non-ASCII text as RFC 2047
// encoded words; the text and every attachment are base64 parts, so no line of the output
// starts with "From " and an mbox needs no quoting of its lines.

import { randomBytes } from "node:crypto";
import type { NewMessage } from "./store.ts";

/** The domain of exported addresses: smsg user ids are not mail addresses (RFC 2606 `.invalid`). */
export const EXPORT_DOMAIN = "smsg.invalid";

export interface ExportMessage extends Omit<NewMessage, "attachments"> {
  /** The folder it was exported from, in the header X-Smsg-Folder: inbox, outbox, trash or drafts. */
  folder: string;
  attachments: { name: string; chunks: () => Iterable<Uint8Array> }[];
}

const te = new TextEncoder();
const address = (user: string): string => `${user}@${EXPORT_DOMAIN}`;

/** RFC 5322 date in UTC: "Tue, 14 Nov 2023 22:13:20 +0000". */
export function mailDate(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, "+0000");
}

/**
 * An unstructured header's value: as it is when it is short printable ASCII, otherwise RFC 2047
 * "B" encoded words cut between code points, one per folded line, no line over 76 characters
 * (`used`: what the line's start, "Subject: ", takes of the first).
 */
export function encodeHeaderText(value: string, used = 0): string {
  if (/^[\x20-\x7e]*$/.test(value) && value.length + used <= 76 && !value.includes("=?")) return value;
  const words: string[] = [];
  let run: number[] = [];
  // "=?UTF-8?B?" and "?=" take 12; 45 bytes are 60 base64 characters, a line of 73 after its space.
  const room = () => (words.length === 0 ? Math.floor((75 - used - 12) / 4) * 3 : 45);
  const flush = () => {
    if (run.length > 0) words.push(`=?UTF-8?B?${Buffer.from(run).toString("base64")}?=`);
    run = [];
  };
  for (const ch of value) {
    const bytes = [...te.encode(ch)];
    if (run.length + bytes.length > room()) flush();
    run.push(...bytes);
  }
  flush();
  return words.join("\r\n ");
}

/** Addresses, folded after each comma so that no line grows long. */
function addressList(users: string[]): string {
  return users.map(address).join(",\r\n ");
}

/**
 * Content-Disposition for a file name: a quoted string when short plain ASCII, else RFC 2231
 * UTF-8 percent-encoding in numbered pieces (filename*0*=, filename*1*=...), one per folded
 * line, each cut between two escapes.
 */
function disposition(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name) && !/["\\]/.test(name) && name.length <= 40) return `attachment; filename="${name}"`;
  const escaped = [...te.encode(name)].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9._-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  });
  const pieces: string[] = [""];
  for (const e of escaped) {
    if (pieces[pieces.length - 1]!.length + e.length > 54) pieces.push("");
    pieces[pieces.length - 1] += e;
  }
  return `attachment;${pieces.map((p, i) => `\r\n filename*${i}*=${i === 0 ? "UTF-8''" : ""}${p}`).join(";")}`;
}

/** Base64 in lines of 76 characters, whatever sizes the pieces come in. */
function* base64Lines(pieces: Iterable<Uint8Array>, eol: string): Generator<string> {
  let carry = Buffer.alloc(0);
  for (const p of pieces) {
    const all = carry.length > 0 ? Buffer.concat([carry, p]) : Buffer.from(p.buffer, p.byteOffset, p.length);
    const whole = all.length - (all.length % 57);
    if (whole > 0) {
      const b64 = all.subarray(0, whole).toString("base64");
      let out = "";
      for (let i = 0; i < b64.length; i += 76) out += b64.slice(i, i + 76) + eol;
      yield out;
    }
    carry = Buffer.from(all.subarray(whole));
  }
  if (carry.length > 0) yield carry.toString("base64") + eol;
}

/**
 * The message as MIME text, piece by piece (attachments are read as it goes). `eol` is CRLF
 * for a `.eml` file, LF inside an mbox.
 */
export function* emlPieces(m: ExportMessage, eol = "\r\n"): Generator<string> {
  const header = (name: string, value: string) => `${name}: ${value.replaceAll("\r\n", eol)}${eol}`;
  let head =
    header("From", address(m.from)) +
    (m.to.length > 0 ? header("To", addressList(m.to)) : "") +
    header("Subject", encodeHeaderText(m.subject, "Subject: ".length)) +
    header("Date", mailDate(m.date)) +
    header("Message-ID", `<${m.id}@${EXPORT_DOMAIN}>`) +
    header("X-Smsg-Folder", m.folder) +
    header("MIME-Version", "1.0");
  // The text in its canonical form (RFC 2046: CRLF line breaks), in base64.
  const text = [te.encode(m.body.replace(/\r?\n/g, "\r\n"))];
  const textPart = header("Content-Type", "text/plain; charset=utf-8") + header("Content-Transfer-Encoding", "base64") + eol;
  if (m.attachments.length === 0) {
    yield head + textPart;
    yield* base64Lines(text, eol);
    return;
  }
  const boundary = `smsg-${randomBytes(12).toString("hex")}`;
  head += header("Content-Type", `multipart/mixed; boundary="${boundary}"`) + eol;
  yield head + `This is a message in MIME format.${eol}${eol}--${boundary}${eol}${textPart}`;
  yield* base64Lines(text, eol);
  for (const a of m.attachments) {
    yield `--${boundary}${eol}` +
      header("Content-Type", "application/octet-stream") +
      header("Content-Disposition", disposition(a.name)) +
      header("Content-Transfer-Encoding", "base64") +
      eol;
    yield* base64Lines(a.chunks(), eol);
  }
  yield `--${boundary}--${eol}`;
}

/** mbox's separator line: "From alice@smsg.invalid Tue Nov 14 22:13:20 2023" (asctime, UTC). */
export function mboxFromLine(m: { from: string; date: number }): string {
  const d = new Date(m.date);
  const [wd, , , , time] = d.toUTCString().split(" ");
  const mon = d.toUTCString().split(" ")[2];
  return `From ${address(m.from)} ${wd!.slice(0, 3)} ${mon} ${String(d.getUTCDate()).padStart(2, " ")} ${time} ${d.getUTCFullYear()}\n`;
}

/** Messages as one mbox: each a "From " line, the message with LF line ends, an empty line. */
export function* mboxPieces(messages: Iterable<ExportMessage>): Generator<string> {
  for (const m of messages) {
    yield mboxFromLine(m);
    yield* emlPieces(m, "\n");
    yield "\n";
  }
}

/** Pieces of text as a byte stream, pulled as the reader asks (a big mailbox is never whole in memory). */
export function textStream(pieces: Iterator<string>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      const n = pieces.next();
      if (n.done) ctl.close();
      else ctl.enqueue(te.encode(n.value));
    },
    cancel() {
      pieces.return?.(undefined);
    },
  });
}

/** A plaintext export as a file to save, never as something a browser would render. */
export function exportHeaders(filename: string, type: string): Record<string, string> {
  return {
    "content-type": type,
    "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`,
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "no-store",
  };
}
