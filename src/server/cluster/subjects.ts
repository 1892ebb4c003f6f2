// The names a relay cluster uses on NATS (SPEC.md §11.2): subjects, the KV bucket and its
// keys. NATS splits subjects (and KV keys) on ".", which user ids may hold: in a subject
// token or key a user id is written with every "." as "=", a character no user id has.

/** A node's name (SPEC.md §11.1): a single subject token. */
export const NODE_NAME = /^[a-z0-9_-]{1,32}$/;

export const PREFIX = "smsg";
export const BUCKET = "smsg";

export const escapeUser = (user: string): string => user.replaceAll(".", "=");
export const unescapeUser = (token: string): string => token.replaceAll("=", ".");

/** Every node's heartbeat: which nodes are alive, and how far their presence has got. */
export const HEARTBEAT = `${PREFIX}.hb`;
/** Presence changes of all nodes. */
export const PRESENCE = `${PREFIX}.presence`;
/** Failed and good logins, so that the limits hold across the cluster. */
export const LOGINS = `${PREFIX}.logins`;
/** A node's full presence, on request. */
export const snapshotSubject = (node: string): string => `${PREFIX}.snap.${node}`;
/** Routed messages for a user on a node. */
export const routeSubject = (node: string, user: string): string => `${PREFIX}.route.${node}.${escapeUser(user)}`;
export const routeWildcard = (node: string): string => `${PREFIX}.route.${node}.*`;
/** Batches of routed messages for users on a node, each record naming its user. */
export const batchSubject = (node: string): string => `${PREFIX}.route.${node}`;

/** KV keys: one per directory row, and the cluster's relay key. */
export const RELAY_KEY_KEY = "relay-key";
