// The one error type of the protocol boundary. Every code is listed in SPEC.md §9
// ("Error codes"); tests assert codes, never messages.

export type ProtocolErrorCode =
  | "malformed" // bad length, type, field or non-canonical encoding
  | "too-large" // a frame or field over its hard limit
  | "bad-version" // a peer speaking another protocol version
  | "bad-tag" // an AEAD tag did not verify
  | "low-order" // an X25519 public key gave an all-zero shared secret
  | "bad-signature" // an Ed25519 signature did not verify
  | "bad-code" // a registration code or relay key string failed its checksum
  | "truncated" // a STREAM ended before its last chunk
  | "handshake" // the Noise handshake was used out of order
  | "relay-key-changed" // the relay's static key in message 2 is not the client's pin
  | "nonce-exhausted"; // a CipherState counter reached 2^64-1

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, detail: string) {
    super(`${code}: ${detail}`);
    this.name = "ProtocolError";
    this.code = code;
  }
}
