// The environment for programs the tray starts (the helper, the browser opener): ours
// without SMSG_PASSWORD, which would otherwise be handed on to a browser and stay readable
// in /proc/PID/environ of every process it starts.

export function childEnv(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && k !== "SMSG_PASSWORD") out[k] = v;
  return out;
}
