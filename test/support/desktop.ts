// A headless desktop for tray tests: Xvfb (on a display it picks itself, its screen kept
// as an XWD file we read for pixels), trayer as the system tray, and xdotool for the
// mouse and keyboard. Installed by scripts/setup-system.sh; missing tools are failures.

import { spawn, type Subprocess } from "bun";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./harness.ts";

export const SCREEN = { width: 320, height: 240 };
/** trayer's strip along the top-left edge, where the icon sits. */
export const TRAY = { x: 0, y: 0, width: 96, height: 32 };

export type Rgb = [number, number, number];

export class Shot {
  constructor(
    readonly width: number,
    readonly height: number,
    /** 4 bytes a pixel: blue, green, red, unused (Xvfb's 24-bit TrueColor, LSB first). */
    readonly data: Uint8Array,
  ) {}

  rgb(x: number, y: number): Rgb {
    const i = (y * this.width + x) * 4;
    return [this.data[i + 2]!, this.data[i + 1]!, this.data[i]!];
  }

  /** Pixels in the box for which pred holds. */
  count(box: { x: number; y: number; width: number; height: number }, pred: (c: Rgb) => boolean): number {
    let n = 0;
    for (let y = box.y; y < box.y + box.height; y++) for (let x = box.x; x < box.x + box.width; x++) if (pred(this.rgb(x, y))) n++;
    return n;
  }

  /** The smallest box around the pixels for which pred holds, or undefined. */
  bounds(box: { x: number; y: number; width: number; height: number }, pred: (c: Rgb) => boolean) {
    let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
    for (let y = box.y; y < box.y + box.height; y++) {
      for (let x = box.x; x < box.x + box.width; x++) {
        if (!pred(this.rgb(x, y))) continue;
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
    }
    return x1 < 0 ? undefined : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
  }

  /** The pixels of a box, to compare two screens. */
  crop(box: { x: number; y: number; width: number; height: number }): string {
    const rows: string[] = [];
    for (let y = box.y; y < box.y + box.height; y++) {
      rows.push(Buffer.from(this.data.subarray((y * this.width + box.x) * 4, (y * this.width + box.x + box.width) * 4)).toString("hex"));
    }
    return rows.join("\n");
  }
}

/** Within tol (sum of channel differences) of a colour: survives the tray's scaling. */
export function near(want: readonly number[], tol = 60): (c: Rgb) => boolean {
  return (c) => Math.abs(c[0] - want[0]!) + Math.abs(c[1] - want[1]!) + Math.abs(c[2] - want[2]!) <= tol;
}

export class Desktop {
  readonly display: string;
  #xvfb: Subprocess;
  #trayer: Subprocess | undefined;
  #fb: string;

  private constructor(display: string, xvfb: Subprocess, fb: string) {
    this.display = display;
    this.#xvfb = xvfb;
    this.#fb = fb;
  }

  /** Start Xvfb and trayer; resolves once the tray strip is on the screen. */
  static async start(dir: string): Promise<Desktop> {
    const fbdir = join(dir, "fb");
    mkdirSync(fbdir, { recursive: true });
    // -displayfd: Xvfb takes the first free display and writes its number to stdout.
    const xvfb = spawn(
      ["Xvfb", "-displayfd", "1", "-screen", "0", `${SCREEN.width}x${SCREEN.height}x24`, "-fbdir", fbdir, "-nolisten", "tcp", "-noreset"],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    let out = "";
    let err = "";
    void (async () => {
      for await (const c of xvfb.stdout) out += new TextDecoder().decode(c);
    })();
    void (async () => {
      for await (const c of xvfb.stderr) err = (err + new TextDecoder().decode(c)).slice(-2000);
    })();
    const n = await waitFor("Xvfb to report its display", () => {
      if (xvfb.exitCode !== null) throw new Error(`Xvfb exited with code ${xvfb.exitCode}: ${err}`);
      return /^(\d+)\n/.exec(out)?.[1];
    });
    const d = new Desktop(`:${n}`, xvfb, join(fbdir, "Xvfb_screen0"));
    d.#trayer = spawn(
      ["trayer", "--edge", "top", "--align", "left", "--widthtype", "pixel", "--width", String(TRAY.width), "--heighttype", "pixel", "--height", String(TRAY.height), "--SetDockType", "false", "--SetPartialStrut", "false", "--transparent", "false", "--tint", "0xdddddd"],
      { env: { ...process.env, DISPLAY: d.display }, stdin: "ignore", stdout: "ignore", stderr: "ignore" },
    );
    // The root window is black; trayer paints its strip.
    await waitFor("trayer's strip on the screen", () => d.shot().count(TRAY, (c) => c[0] + c[1] + c[2] > 300) > (TRAY.width * TRAY.height) / 2, 20_000, 100);
    return d;
  }

  /** The screen now, from the framebuffer file Xvfb keeps (XWD format). */
  shot(): Shot {
    const f = readFileSync(this.#fb);
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const u32 = (i: number) => v.getUint32(i * 4);
    const [headerSize, width, height, byteOrder, bitsPerPixel, bytesPerLine, ncolors] = [u32(0), u32(4), u32(5), u32(7), u32(11), u32(12), u32(19)];
    if (bitsPerPixel !== 32 || byteOrder !== 0 || bytesPerLine !== width * 4) {
      throw new Error(`unexpected Xvfb framebuffer: ${bitsPerPixel} bpp, byte order ${byteOrder}, ${bytesPerLine} bytes a line`);
    }
    const off = headerSize + ncolors * 12;
    return new Shot(width, height, new Uint8Array(f.buffer, f.byteOffset + off, width * height * 4));
  }

  /** Run xdotool against this display; throws if it fails. */
  async xdotool(...args: string[]): Promise<void> {
    const p = spawn(["xdotool", ...args], { env: { ...process.env, DISPLAY: this.display }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    if (code !== 0) throw new Error(`xdotool ${args.join(" ")} failed (${code}): ${err}`);
  }

  async stop(): Promise<number> {
    this.#trayer?.kill();
    await this.#trayer?.exited;
    this.#xvfb.kill();
    return this.#xvfb.exited;
  }
}
