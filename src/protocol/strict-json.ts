// Strict JSON for the message header (SPEC.md §5.3 "JSON rules"): the JSON of RFC 8259
// plus two rules JSON.parse does not enforce, so that two implementations never disagree on
// what a header says: a member name appears at most once in an object (JSON.parse keeps the
// last, other parsers the first), and a number is an integer written in its shortest form
// (`1`, never `1.0`, `1e0` or `-0`), since every number in a header is an integer.

import { visit } from "jsonc-parser";
import { ProtocolError } from "./errors.ts";

const INTEGER = /^(0|-?[1-9][0-9]*)$/;

/** JSON.parse(text) after checking the two rules above; any failure is `malformed`. */
export function parseStrictJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("malformed", "not JSON");
  }
  // Valid JSON by now; the visitor only looks for what JSON.parse lets through.
  const names: Set<string>[] = [];
  let fault = "";
  visit(
    text,
    {
      onObjectBegin: () => void names.push(new Set()),
      onObjectEnd: () => void names.pop(),
      onObjectProperty: (name) => {
        const seen = names[names.length - 1];
        if (seen?.has(name)) fault ||= "duplicate member name";
        seen?.add(name);
      },
      onLiteralValue: (v, offset, length) => {
        if (typeof v === "number" && !INTEGER.test(text.slice(offset, offset + length))) {
          fault ||= "number not a plain integer";
        }
      },
      onError: () => void (fault ||= "not JSON"),
    },
    { disallowComments: true, allowTrailingComma: false },
  );
  if (fault) throw new ProtocolError("malformed", fault);
  return value;
}
