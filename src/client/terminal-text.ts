// Text from others on a terminal (SECURITY.md §14 #3; README "Commands against a running
// client"): the CLI prints subjects, bodies, names and the relay's reasons, and a terminal
// obeys the control sequences in them: a sender could move the cursor and rewrite the From
// line, hide text, retitle the window or write the clipboard (OSC 52). Every human-readable
// CLI line that carries such text goes through terminalSafe; --json output does not.

/** C0 and C1 controls and DEL, except newline and tab, which a body keeps. */
const TEXT_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/**
 * In a one-line field (subject, From, a name, a reason) newline and tab are escaped too (a
 * subject "x\nFrom: boss" would print a second header), and so are the bidi embeddings,
 * overrides and isolates U+202A-202E and U+2066-2069, which would reorder the rest of the
 * line (an "exe.pdf" spoof, a From that reads backwards). A body keeps them: right-to-left
 * text uses them, and a terminal ends their effect at the end of the line.
 */
const LINE_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character written as a visible escape: `\xHH` below U+0100
 * (ESC is the four characters `\x1b`), `\uHHHH` above. "line" (the default) is for one-line
 * fields, "text" for a message body. A backslash is left as it is, so a sender who types
 * `\x1b` literally looks the same as an escaped ESC: harmless, it is only text either way.
 */
export function terminalSafe(text: string, mode: "line" | "text" = "line"): string {
  return text.replace(mode === "line" ? LINE_CONTROLS : TEXT_CONTROLS, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}
