// The mailbox's preferences (CLIENT.md §2.7) as plain data: the settings page shows them as
// props, the daemon keeps them in the store's meta table. Imports nothing, so both may.

export interface Settings {
  sound: boolean; // play a sound when a message arrives
  posting: "top" | "bottom"; // where a reply's text goes relative to the quote
  idleLockMinutes: number; // a browser session idle this long must unlock again
  popupReturnSeconds: number; // a clicked message window comes back after this long
  /**
   * Browser notifications name the sender and subject. Off by default: the system keeps
   * notifications in its own history, outside the encrypted store and after the mailbox locks.
   */
  notificationDetails: boolean;
}

export const DEFAULT_SETTINGS: Settings = { sound: true, posting: "top", idleLockMinutes: 15, popupReturnSeconds: 30, notificationDetails: false };
