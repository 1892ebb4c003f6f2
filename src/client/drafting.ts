// What Reply, Reply All and Forward start from (CLIENT.md §2.7 "Replies and forwards"), for the
// mailbox's forms and the daemon's forward alike: the subject with one "Re: " or "Fwd: ",
// the original quoted line by line under an "On DATE, FROM wrote:" line, and the recipients.

/** The quoted original: "On 2024-01-31 12:00, alice wrote:" and each line after "> ". */
export function quoteOf(m: { from: string; body: string; date: number }): string {
  return (
    `On ${new Date(m.date).toISOString().replace("T", " ").slice(0, 16)}, ${m.from} wrote:\n` +
    m.body
      .replace(/\n+$/, "")
      .split("\n")
      .map((l) => `> ${l}`)
      .join("\n")
  );
}

/** "Re: " once, never "Re: Re: ". */
export const replySubject = (subject: string): string => `Re: ${subject.replace(/^(\s*re\s*:\s*)+/i, "")}`;

/** "Fwd: " once, never "Fwd: Fwd: " (nor "Fwd: Fw: "). */
export const forwardSubject = (subject: string): string => `Fwd: ${subject.replace(/^(\s*fwd?\s*:\s*)+/i, "")}`;

/**
 * Reply All: the sender and every other recipient, once each, in that order, without oneself
 * (a reply to one's own sent message goes to its recipients).
 */
export function replyAllRecipients(m: { from: string; to: string[] }, me: string): string[] {
  return [...new Set([m.from, ...m.to])].filter((u) => u !== me);
}

/** A forward's text: what the person wrote (if anything), then the original quoted as in Reply. */
export function forwardBody(note: string, m: { from: string; body: string; date: number }): string {
  const top = note.replace(/\n+$/, "");
  return `${top === "" ? "" : `${top}\n\n`}${quoteOf(m)}\n`;
}
