// The environment for programs the client starts (the tray helper, the browser opener,
// Open's program): ours without SMSG_PASSWORD and SMSG_INVITE, which would otherwise be
// handed on to a browser and stay readable in /proc/PID/environ of every process it starts.

const SECRETS = new Set(["SMSG_PASSWORD", "SMSG_INVITE"]);

export function childEnv(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !SECRETS.has(k)) out[k] = v;
  return out;
}
