// User ids (SPEC.md §1): lowercase ASCII letters, digits, '.', '_' and '-', 1..32 bytes,
// starting with a letter or digit. One spelling per user, so no two ids can look alike.

import { ProtocolError } from "./errors.ts";

const USER_ID = /^[a-z0-9][a-z0-9._-]{0,31}$/;

export function isUserId(s: string): boolean {
  return USER_ID.test(s);
}

export function checkUserId(s: string, what = "user id"): string {
  if (!isUserId(s)) {
    throw new ProtocolError(
      "malformed",
      `${what} must be 1-32 of a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  return s;
}
