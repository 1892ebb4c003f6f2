// One-time invites (SPEC.md §3.3): `ctrl invite USER` stores SHA-256 of a random token with
// its user and expiry; a login that carries the token registers the presented key as that
// user's code, once. Only hashes are stored, so a copy of relay.db holds no usable invite.

import { randomBytes } from "node:crypto";
import type { Directory, InviteRow } from "./directory.ts";
import { INVITE_LEN } from "../protocol/messages.ts";
import { sha256 } from "../protocol/primitives.ts";

/** A new invite for user, replacing any older one of theirs; returns the token. */
export function createInvite(d: Directory, user: string, now: number, ttlMs: number): Uint8Array {
  const token = new Uint8Array(randomBytes(INVITE_LEN));
  d.putInvite(sha256(token), user, now, now + ttlMs);
  return token;
}

export function listInvites(d: Directory, now: number): InviteRow[] {
  return d.invites(now);
}

/**
 * Spend the invite: if it exists, names this user, has not expired and the user exists and
 * is active, set their code to `code`, drop the invite and their pending row, at once. Any
 * failure leaves everything as it was and returns false.
 */
export function redeemInvite(d: Directory, user: string, token: Uint8Array, code: Uint8Array, now: number): boolean {
  return d.redeemInvite(sha256(token), user, code, now);
}

/** "7d", "12h", "30m", "3600s" or plain seconds, as milliseconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d{1,6})([smhd]?)$/.exec(s.trim());
  if (!m) return undefined;
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  const ms = Number(m[1]) * unit * 1000;
  return ms > 0 ? ms : undefined;
}
