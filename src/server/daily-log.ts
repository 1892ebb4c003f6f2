// The relay's daily log files (SPEC.md §10): one file per UTC day, `relay-YYYY-MM-DD.log`.
// The day is taken from the injected clock at every line, so the first line after midnight
// opens the next file: the log rolls without a restart, and old days are pruned then.

import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync, fstatSync, readSync } from "node:fs";
import { join } from "node:path";
import { formatLine, type Log, type LogFields } from "./log.ts";

export const LOG_FILE = /^relay-(\d{4}-\d{2}-\d{2})\.log$/;

export function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function logFileName(day: string): string {
  return `relay-${day}.log`;
}

export interface DailyLogOptions {
  dir: string;
  /** Days of files to keep, today included; 0 keeps every file. */
  days: number;
  now?: () => Date;
  /** Every line also goes here (the terminal, or plain standard output). */
  echo?: (line: string) => void;
}

export class DailyLog implements Log {
  readonly dir: string;
  readonly #days: number;
  readonly #now: () => Date;
  readonly #echo: ((line: string) => void) | undefined;
  #fd: number | undefined;
  #day = "";
  #failed = false;

  /** Opens today's file at once, so a log dir that cannot be written fails the start. */
  constructor(o: DailyLogOptions) {
    this.dir = o.dir;
    this.#days = o.days;
    this.#now = o.now ?? (() => new Date());
    this.#echo = o.echo;
    this.#open(utcDay(this.#now()));
  }

  /** Today's file by the clock, whether or not a line went into it yet. */
  get path(): string {
    return join(this.dir, logFileName(utcDay(this.#now())));
  }

  info(event: string, fields?: LogFields): void {
    this.#write("info", event, fields);
  }
  warn(event: string, fields?: LogFields): void {
    this.#write("warn", event, fields);
  }
  error(event: string, fields?: LogFields): void {
    this.#write("error", event, fields);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #write(level: string, event: string, fields: LogFields | undefined): void {
    const now = this.#now();
    const line = formatLine(level, event, fields, now);
    try {
      const day = utcDay(now);
      if (day !== this.#day) this.#open(day);
      if (this.#fd !== undefined) writeSync(this.#fd, line + "\n");
      this.#failed = false;
    } catch (e) {
      // A full disk must not stop the relay; say so once, not at every line.
      if (!this.#failed) console.error(`smsg: cannot write the log in ${this.dir}: ${(e as Error).message}`);
      this.#failed = true;
    }
    this.#echo?.(line);
  }

  #open(day: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const fd = openSync(join(this.dir, logFileName(day)), "a", 0o640);
    this.close();
    this.#fd = fd;
    this.#day = day;
    pruneLogs(this.dir, this.#days, day);
  }
}

/** Delete day files older than `days` days before `today` (which counts as one). */
export function pruneLogs(dir: string, days: number, today: string): string[] {
  if (days <= 0) return [];
  const cutoff = new Date(Date.parse(`${today}T00:00:00Z`) - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = LOG_FILE.exec(name);
    if (m && m[1]! < cutoff) {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** The last `lines` lines of a log file (reading at most its last 256 KiB); [] if absent. */
export function tailFile(path: string, lines: number): string[] {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const all = buf.toString("utf8").split("\n");
    if (all[all.length - 1] === "") all.pop();
    if (len < size) all.shift(); // a partial first line
    return all.slice(-lines);
  } finally {
    closeSync(fd);
  }
}
