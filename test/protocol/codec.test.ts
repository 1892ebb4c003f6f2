import { describe, expect, test } from "bun:test";
import { Writer } from "../../src/protocol/codec.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { MAX_SUBJECT_CHARS, encodeHeader, parseHeader, subjectLength } from "../../src/protocol/envelope.ts";

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof ProtocolError ? e.code : `not a ProtocolError: ${String(e)}`;
  }
  return "no error";
}

describe("Writer never wraps an integer that does not fit", () => {
  test.each([
    ["u8", 256],
    ["u8", -1],
    ["u16", 65536],
    ["u32", 2 ** 32],
    ["u32", 1.5],
    ["u64", -1],
    ["u64", 2 ** 53],
  ] as const)("%s(%p) is malformed", (method, v) => {
    expect(code(() => new Writer()[method](v))).toBe("malformed");
  });

  test("the largest values fit", () => {
    expect(new Writer().u8(255).u16(65535).u32(2 ** 32 - 1).u64(2 ** 53 - 1).finish().length).toBe(15);
  });
});

describe("subjects are counted in characters, not UTF-16 units", () => {
  test("an emoji counts once", () => {
    expect(subjectLength("🎉")).toBe(1);
    expect("🎉".length).toBe(2);
  });

  test("a subject of MAX_SUBJECT_CHARS emoji is accepted, one more is not", () => {
    const header = (subject: string) =>
      encodeHeader({ v: 1, id: "0".repeat(32), from: "a", to: ["b"], date: 0, subject, body: "", attachments: [] }).subarray(4);
    expect(parseHeader(header("🎉".repeat(MAX_SUBJECT_CHARS))).subject).toBe("🎉".repeat(MAX_SUBJECT_CHARS));
    expect(code(() => parseHeader(header("🎉".repeat(MAX_SUBJECT_CHARS + 1))))).toBe("malformed");
  });
});
