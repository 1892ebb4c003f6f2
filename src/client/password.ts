// Where the password comes from (README "Passwords"): --password-file (first line), then
// SMSG_PASSWORD, then a prompt on the terminal. Never the command line, which other local
// users can read in the process list.

import { readFileSync } from "node:fs";
import { CliError } from "../cli/cli-error.ts";

export async function readPassword(file: string | undefined, prompt: string): Promise<string> {
  if (file) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch {
      throw new CliError(`cannot read the password file ${file}`);
    }
    // SPEC.md §3.2: a leading byte-order mark is removed (TextDecoder's default), and bytes
    // that are not UTF-8 are refused rather than turned into U+FFFD, which would make a
    // different password out of them.
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new CliError(`the password file ${file} is not UTF-8 text`);
    }
    const line = text.split(/\r?\n/)[0] ?? "";
    if (line === "") throw new CliError(`the password file ${file} is empty`);
    return line;
  }
  const env = process.env.SMSG_PASSWORD;
  if (env) return env;
  if (!process.stdin.isTTY) {
    throw new CliError("no password: use --password-file FILE or SMSG_PASSWORD, or run in a terminal");
  }
  return promptHidden(prompt);
}

export function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let pw = "";
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          done();
          resolve(pw);
          return;
        }
        if (ch === "\u0003") {
          done();
          reject(new CliError("cancelled"));
          return;
        }
        if (ch === "\u007f" || ch === "\b") pw = pw.slice(0, -1);
        else pw += ch;
      }
    };
    const done = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    stdin.on("data", onData);
  });
}

/** A y/N question on the terminal (stderr, like the password prompt): only "y" or "yes" is yes. */
export async function confirm(prompt: string): Promise<boolean> {
  process.stderr.write(prompt);
  const line = await new Promise<string>((resolve) => {
    let got = "";
    const onData = (buf: Buffer) => {
      got += buf.toString("utf8");
      const nl = got.search(/[\r\n]/);
      if (nl < 0) return;
      process.stdin.off("data", onData);
      process.stdin.off("end", onEnd);
      process.stdin.pause();
      resolve(got.slice(0, nl));
    };
    const onEnd = () => resolve(got);
    process.stdin.on("data", onData);
    process.stdin.once("end", onEnd);
    process.stdin.resume();
  });
  return /^\s*(y|yes)\s*$/i.test(line);
}
