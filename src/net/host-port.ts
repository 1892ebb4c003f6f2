// HOST:PORT and [IPv6]:PORT as the command line and the config file write them (SPEC.md §2.1).

export interface HostPort {
  host: string;
  port: number;
}

export class HostPortError extends Error {}

export function parseHostPort(s: string, what: string): HostPort {
  const m = /^\[([0-9a-fA-F:.%a-z]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new HostPortError(`${what} must be HOST:PORT or [IPv6]:PORT, not "${s}"`);
  return { host: m[1]!, port };
}

export function formatHostPort(a: HostPort): string {
  return `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
