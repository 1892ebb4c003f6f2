// The daemon's state as a tray, a web page or the CLI shows it (CLIENT.md §2.3 "status"):
// plain data, so the event bus and the tray can name it without importing the daemon.

/** The connection as a tray or page shows it (README "status"). */
export type ConnectionState = "connecting" | "connected" | "retrying" | "refused" | "locked" | "stopped";

export interface Status {
  user: string;
  /** The relay (node) connected to now, HOST:PORT; when not connected, the configured one(s). */
  relay: string;
  state: ConnectionState;
  /** When state is "retrying": ms since the epoch of the next attempt. */
  retryAt: number | null;
  connected: boolean;
  relayKey: string | null;
  uiUrl: string | null;
  queued: number;
  unread: number;
  error: string | null;
}
