// One run of the systray2 helper program, spoken to over its JSON-lines protocol: it prints
// {"type":"ready"}, reads the menu, then reads update/exit actions and prints a "clicked"
// line per menu choice. We drive the helper directly rather than through systray2's
// wrapper class because the wrapper runs ./traybin/<helper> from the current directory if
// one exists, throws (uncaught) on any stdout line that is not JSON, never reads the
// helper's stderr (a chatty GTK fills the pipe and freezes the helper), its ready() never
// settles without a display, and its kill() ends our whole process.

import { spawn, type Subprocess } from "bun";
import { childEnv } from "./child-env.ts";

export interface HelperItem {
  title: string;
  tooltip: string;
  enabled: boolean;
  checked: boolean;
  hidden: boolean;
  /** The helper's id for the item: what a click and an update name. */
  __id: number;
}

export interface HelperMenu {
  /** base64 of PNG (Linux, macOS) or ICO (Windows) bytes. */
  icon: string;
  title: string;
  tooltip: string;
  items: HelperItem[];
}

export interface HelperEvents {
  click(id: number): void;
  /** The helper ended without being asked to: why, in words. */
  exit(why: string): void;
}

const TAIL_LINES = 3;
// What GTK says on every start of a healthy helper: without a D-Bus session the
// appindicator falls back to the XEmbed tray, which works. Noise in a failure report.
const BENIGN = [/Unable to get (the )?session bus/, /gdk_window_thaw_toplevel_updates/];

export class TrayHelper {
  readonly pid: number;
  #proc: Subprocess<"pipe", "pipe", "pipe">;
  #stopping = false;
  #tail: string[] = [];

  private constructor(proc: Subprocess<"pipe", "pipe", "pipe">) {
    this.#proc = proc;
    this.pid = proc.pid;
  }

  /**
   * Start the helper at path and show menu. Resolves once the helper said ready and has the
   * menu; rejects if it cannot start, ends first, or stays silent for readyTimeoutMs (with
   * no display it waits forever).
   */
  static start(path: string, menu: HelperMenu, on: HelperEvents, readyTimeoutMs: number): Promise<TrayHelper> {
    let proc: Subprocess<"pipe", "pipe", "pipe">;
    try {
      proc = spawn([path], { env: childEnv(), stdin: "pipe", stdout: "pipe", stderr: "pipe", windowsHide: true });
    } catch (e) {
      return Promise.reject(new Error(`cannot run the tray helper ${path} (${(e as Error).message})`));
    }
    const h = new TrayHelper(proc);
    return new Promise<TrayHelper>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        if (ready) return;
        h.#stopping = true;
        proc.kill("SIGKILL");
        reject(new Error(`the tray helper did not start within ${Math.round(readyTimeoutMs / 1000)} s${h.#why()}`));
      }, readyTimeoutMs);
      const errDone = h.#lines(proc.stderr, (line) => h.#remember(line));
      const outDone = h.#lines(proc.stdout, (line) => {
        let msg: { type?: unknown; __id?: unknown };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          h.#remember(line); // not protocol: keep it to explain a failure
          return;
        }
        if (msg.type === "ready" && !ready) {
          ready = true;
          clearTimeout(timer);
          h.#send(menu);
          resolve(h);
        } else if (msg.type === "clicked" && typeof msg.__id === "number") {
          try {
            on.click(msg.__id);
          } catch {
            // A failing action must not stop us reading the helper's next lines.
          }
        }
      });
      void proc.exited.then(async (code) => {
        clearTimeout(timer);
        if (h.#stopping) return;
        // Its last words (why GTK gave up) may still be in the pipes; a grandchild that
        // inherited them must not hold the report back for long.
        await Promise.race([Promise.all([errDone, outDone]), Bun.sleep(1000)]);
        const why = `exited with ${proc.signalCode ? `signal ${proc.signalCode}` : `code ${code}`}${h.#why()}`;
        if (ready) on.exit(why);
        else reject(new Error(`the tray helper ${why}`));
      });
    });
  }

  updateItem(item: HelperItem): void {
    // seq_id -1: the helper finds the item by __id.
    this.#send({ type: "update-item", item, seq_id: -1 });
  }

  /** Icon, title and tooltip (the helper takes items from update-item only). */
  updateMenu(menu: HelperMenu): void {
    this.#send({ type: "update-menu", menu });
  }

  /** Ask the helper to remove its icon and end; kill it if it has not within 2 s. */
  async stop(): Promise<void> {
    if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) return;
    this.#stopping = true;
    this.#send({ type: "exit" });
    const killer = setTimeout(() => this.#proc.kill("SIGKILL"), 2000);
    await this.#proc.exited;
    clearTimeout(killer);
  }

  #send(msg: unknown): void {
    try {
      this.#proc.stdin.write(JSON.stringify(msg) + "\n");
      Promise.resolve(this.#proc.stdin.flush()).catch(() => undefined);
    } catch {
      // The helper is gone; its exit is reported through `exited`.
    }
  }

  #remember(line: string): void {
    line = line.replace(/^\(tray_\w+:\d+\): /, "").trim();
    if (line === "" || BENIGN.some((re) => re.test(line))) return;
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  #why(): string {
    return this.#tail.length ? `: ${this.#tail.join(" / ")}` : "";
  }

  async #lines(stream: ReadableStream<Uint8Array>, each: (line: string) => void): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of stream) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          each(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        // A helper that never ends a line must not grow our memory without bound.
        if (buf.length > 1 << 20) buf = buf.slice(-4096);
      }
    } catch {
      // The pipe closed with the process.
    }
    if (buf) each(buf);
  }
}
