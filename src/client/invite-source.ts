// Where `smsg client` takes an invite from (SPEC.md §3.3, README "Registering users"):
// --invite-file (first line), else --invite, else SMSG_INVITE, the way the password comes
// from a file or the environment. --invite stays for old scripts, but the command line is
// in /proc/PID/cmdline for every local user, who could redeem the invite first.

import { readFileSync } from "node:fs";
import { decodeInvite } from "../protocol/keys.ts";
import { CliError } from "../cli/cli-error.ts";

export interface InviteSource {
  invite?: string;
  inviteFile?: string;
}

/** The invite's 32 bytes and where they came from (for messages), or undefined if none. */
export function readInvite(o: InviteSource, env: Record<string, string | undefined> = process.env): { token: Uint8Array; from: string } | undefined {
  let text: string;
  let from: string;
  if (o.inviteFile !== undefined) {
    try {
      text = readFileSync(o.inviteFile, "utf8").split(/\r?\n/)[0]!.trim();
    } catch {
      throw new CliError(`cannot read the invite file ${o.inviteFile}`);
    }
    from = "--invite-file";
    if (text === "") throw new CliError(`the invite file ${o.inviteFile} is empty`);
    return { token: decode(text, `the invite file ${o.inviteFile} does not hold an invite`), from };
  }
  if (o.invite !== undefined) {
    // Kept as before: the text is the user's own, and already in their process list.
    return { token: decode(o.invite, `"${o.invite}" is not an invite`), from: "--invite" };
  }
  text = env.SMSG_INVITE?.trim() ?? "";
  if (text === "") return undefined;
  from = "SMSG_INVITE";
  return { token: decode(text, "SMSG_INVITE does not hold an invite"), from };
}

function decode(text: string, what: string): Uint8Array {
  try {
    return decodeInvite(text);
  } catch {
    throw new CliError(`${what} (smsginvite1..., checksum or format wrong)`);
  }
}
