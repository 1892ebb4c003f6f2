// The relay's small window (README "Running a relay"): when standard output is a terminal,
// a two-line live status stays at the bottom and log lines scroll above it. When it is not
// a terminal (a service, a pipe, the tests) nothing here runs and lines stay plain.

export interface StatusSnapshot {
  online: string[];
  connections: number;
  transfers: number;
  messages: number;
  bytes: number;
  logins: number;
  failedLogins: number;
  pending: number;
  uptimeMs: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function formatUptime(ms: number): string {
  const m = Math.floor(ms / 60_000);
  const d = Math.floor(m / 1440);
  const h = Math.floor((m % 1440) / 60);
  return d > 0 ? `${d}d${h}h` : `${h}h${String(m % 60).padStart(2, "0")}m`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The status lines, each cut to `width` columns. Pure, for the tests. */
export function renderStatus(s: StatusSnapshot, width: number): string[] {
  const names = s.online.length ? `: ${s.online.join(", ")}` : "";
  const lines = [
    `smsg relay · up ${formatUptime(s.uptimeMs)} · ${plural(s.online.length, "user")} connected${names}`,
    `${plural(s.messages, "message")} · ${formatBytes(s.bytes)} relayed · ${plural(s.transfers, "transfer")} now · ` +
      `${s.logins} logins, ${s.failedLogins} failed · ${plural(s.pending, "pending registration")}`,
  ];
  return lines.map((l) => (l.length > width ? l.slice(0, Math.max(1, width - 1)) + "…" : l));
}

const CSI = "\x1b[";

export class TerminalStatus {
  #write: (s: string) => void;
  #snapshot: () => StatusSnapshot;
  #width: () => number;
  #drawn = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(write: (s: string) => void, snapshot: () => StatusSnapshot, width: () => number) {
    this.#write = write;
    this.#snapshot = snapshot;
    this.#width = width;
  }

  start(everyMs = 1000): void {
    this.#draw();
    this.#timer = setInterval(() => this.#redraw(), everyMs);
  }

  /** A log line: above the status block, which is drawn again below it. */
  print(line: string): void {
    this.#write(this.#clear() + line + "\n" + this.#render());
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#write(this.#clear());
  }

  #redraw(): void {
    this.#write(this.#clear() + this.#render());
  }

  #draw(): void {
    this.#write(this.#render());
  }

  #clear(): string {
    const s = `${CSI}1A${CSI}2K`.repeat(this.#drawn) + "\r";
    this.#drawn = 0;
    return s;
  }

  #render(): string {
    let lines: string[];
    try {
      lines = renderStatus(this.#snapshot(), Math.max(20, this.#width()));
    } catch {
      return ""; // the relay is stopping (its database is closed): draw nothing
    }
    this.#drawn = lines.length;
    return `${CSI}7m${lines[0]}${CSI}0m\n` + lines.slice(1).map((l) => `${l}\n`).join("");
  }
}
