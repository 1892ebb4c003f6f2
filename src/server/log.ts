// The relay's log lines (SPEC.md says what is logged; SECURITY.md what never is): one line
// per event, `time level event key=value ...`. Values are user ids, addresses and counts,
// never key material or message content.

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Log {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export function formatLine(level: string, event: string, fields: LogFields | undefined, now: Date): string {
  let line = `${now.toISOString()} ${level} ${event}`;
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined) continue;
    const s = String(v);
    line += ` ${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
  }
  return line;
}

export function streamLog(write: (line: string) => void, now: () => Date = () => new Date()): Log {
  return {
    info: (e, f) => write(formatLine("info", e, f, now())),
    warn: (e, f) => write(formatLine("warn", e, f, now())),
    error: (e, f) => write(formatLine("error", e, f, now())),
  };
}

export const silentLog: Log = { info() {}, warn() {}, error() {} };
