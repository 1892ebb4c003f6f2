// terminalSafe (SECURITY.md §14 #3): every control character a terminal would obey becomes a
// visible escape; a body keeps its newlines and tabs; one-line fields also lose bidi controls.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { terminalSafe } from "../../src/client/terminal-text.ts";

const OBEYED = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe("terminalSafe", () => {
  test("ESC, OSC 52, CSI, C1 and DEL are shown as \\xHH", () => {
    expect(terminalSafe("a\x1b]52;c;aGk=\x07b")).toBe("a\\x1b]52;c;aGk=\\x07b");
    expect(terminalSafe("\x1b[2J\u009b31m\x7f\x00")).toBe("\\x1b[2J\\x9b31m\\x7f\\x00");
  });

  test("a one-line field escapes newline, tab, CR and the bidi controls", () => {
    expect(terminalSafe("Hi\nFrom: boss\r\t")).toBe("Hi\\x0aFrom: boss\\x0d\\x09");
    expect(terminalSafe("invoice\u202efdp.exe \u2066x\u2069 \u202a")).toBe("invoice\\u202efdp.exe \\u2066x\\u2069 \\u202a");
  });

  test("a body keeps newline, tab and bidi text, and escapes the rest", () => {
    expect(terminalSafe("line 1\n\tline 2\rFrom: x\x1b[8m", "text")).toBe("line 1\n\tline 2\\x0dFrom: x\\x1b[8m");
    expect(terminalSafe("\u202bשלום\u202c", "text")).toBe("\u202bשלום\u202c");
  });

  test("ordinary text, accents and emoji are unchanged", () => {
    expect(terminalSafe("Grüße, 日本 🎉 C:\\dir")).toBe("Grüße, 日本 🎉 C:\\dir");
  });

  test("no output ever holds a control a terminal obeys", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(terminalSafe(s)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        expect(terminalSafe(s, "text")).not.toMatch(OBEYED);
      }),
    );
  });
});
