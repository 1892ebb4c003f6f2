// What the relay routes to (SPEC.md §4.2): one of its own sessions, or a session on another
// relay of a cluster reached through the hub. Session code hands messages to Endpoints only.

import type { Message, SignedSessionKey } from "../protocol/messages.ts";
import type { Writer } from "../protocol/codec.ts";

/** Something a message for a user can be handed to: a local connection or a remote proxy. */
export interface Endpoint {
  readonly user: string;
  readonly sessionKey: SignedSessionKey | undefined;
  /**
   * Queue a message; false when the endpoint is gone. `encoded`, when the caller has it, is
   * m's encoding (as received, or spliced from what was): an end that writes m may send it
   * instead of encoding m again.
   */
  post(m: Message, encoded?: Writer): boolean;
}
