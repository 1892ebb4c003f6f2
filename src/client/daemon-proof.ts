// The daemon proves to the CLI that it holds the API token before the CLI sends the token
// or any plaintext (CLIENT.md §2.3 "GET /api/hello", SECURITY.md §14 #8): after a crash,
// daemon.json may name a port that someone else now listens on.

import { constantTimeEqual, hmacSha256, randomBytes } from "../protocol/primitives.ts";

/** Domain separation for the proof, exactly as SPEC.md §1.6 lists it. */
export const LABEL_DAEMON_PROOF = "smsg daemon proof v1";
export const HELLO_NONCE_BYTES = 32;

/** HMAC-SHA256(key = the api-token file's token as UTF-8, LABEL_DAEMON_PROOF || nonce). */
export function daemonProof(token: string, nonce: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  return hmacSha256(enc.encode(token), enc.encode(LABEL_DAEMON_PROOF), nonce);
}

export function helloNonce(): Uint8Array {
  return randomBytes(HELLO_NONCE_BYTES);
}

/** Whether proofHex (from the daemon's answer) is the proof for nonce, in constant time. */
export function checkDaemonProof(token: string, nonce: Uint8Array, proofHex: unknown): boolean {
  if (typeof proofHex !== "string" || !/^[0-9a-f]{64}$/.test(proofHex)) return false;
  return constantTimeEqual(daemonProof(token, nonce), Buffer.from(proofHex, "hex"));
}
