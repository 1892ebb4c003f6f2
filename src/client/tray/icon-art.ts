// The tray icon's pixels: a rounded square, green while connected and red
// otherwise, with a white glyph (envelope, padlock or "!") and a yellow unread badge.
// Drawn per size on whole pixels with no anti-aliasing, so 16-32 px icons stay crisp
// instead of being a large picture scaled down into a blur.

import type { Rgba } from "./png.ts";

export type IconColor = "green" | "red";
/** mail: connected or trying to be; lock: the client is locked; alert: the relay is refused. */
export type IconGlyph = "mail" | "lock" | "alert";

export interface IconSpec {
  color: IconColor;
  glyph: IconGlyph;
  /** Unread messages: 0 none, a dot below 22 px, else the count (above 9: "9+"). */
  unread: number;
}

type Rgb = readonly [number, number, number];

/** Colours a test can look for on a screenshot. */
export const ICON_RGB: Readonly<Record<IconColor | "glyph" | "badge" | "badgeText", Rgb>> = {
  green: [46, 158, 72],
  red: [208, 52, 44],
  glyph: [255, 255, 255],
  badge: [255, 213, 74],
  badgeText: [26, 26, 26],
};

// 3x5 digits: tall enough to read at 22 px, doubled at 30 px and above.
const FONT: Record<string, string> = {
  "0": "111101101101111",
  "1": "010110010010111",
  "2": "111001111100111",
  "3": "111001111001111",
  "4": "101101111001001",
  "5": "111100111001111",
  "6": "111100111101111",
  "7": "111001001010010",
  "8": "111101111101111",
  "9": "111101111001111",
  "+": "000010111010000",
};

class Canvas {
  readonly data: Uint8Array;
  constructor(readonly size: number) {
    this.data = new Uint8Array(size * size * 4);
  }

  px(x: number, y: number, c: Rgb): void {
    if (x < 0 || y < 0 || x >= this.size || y >= this.size) return;
    const i = (y * this.size + x) * 4;
    this.data.set([c[0], c[1], c[2], 255], i);
  }

  rect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) this.px(x, y, c);
  }

  /** A filled rectangle with corners of radius r, tested at pixel centres. */
  roundRect(x0: number, y0: number, x1: number, y1: number, r: number, c: Rgb): void {
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const cx = Math.min(Math.max(x + 0.5, x0 + r), x1 + 1 - r);
        const cy = Math.min(Math.max(y + 0.5, y0 + r), y1 + 1 - r);
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r + 0.01) this.px(x, y, c);
      }
    }
  }

  /** A line of w-by-w squares from (x0, y0) to (x1, y1), Bresenham. */
  line(x0: number, y0: number, x1: number, y1: number, w: number, c: Rgb): void {
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      this.rect(x0, y0, x0 + w - 1, y0 + w - 1, c);
      if (x0 === x1 && y0 === y1) return;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }

  outline(x0: number, y0: number, x1: number, y1: number, w: number, c: Rgb): void {
    this.rect(x0, y0, x1, y0 + w - 1, c);
    this.rect(x0, y1 - w + 1, x1, y1, c);
    this.rect(x0, y0, x0 + w - 1, y1, c);
    this.rect(x1 - w + 1, y0, x1, y1, c);
  }

  text(s: string, x: number, y: number, k: number, c: Rgb): void {
    for (const ch of s) {
      const g = FONT[ch]!;
      for (let i = 0; i < 15; i++) if (g[i] === "1") this.rect(x + (i % 3) * k, y + Math.floor(i / 3) * k, x + (i % 3) * k + k - 1, y + Math.floor(i / 3) * k + k - 1, c);
      x += 4 * k;
    }
  }
}

/** The icon as RGBA pixels, size by size pixels (16..64). */
export function drawIcon(spec: IconSpec, size: number): Rgba {
  if (!Number.isInteger(size) || size < 16 || size > 64) throw new RangeError(`drawIcon: size ${size} is not 16..64`);
  const s = size;
  const cv = new Canvas(s);
  const bg = ICON_RGB[spec.color];
  const white = ICON_RGB.glyph;
  const w = s >= 28 ? 2 : 1; // stroke: one pixel is too thin to read at 28 px and up
  cv.roundRect(0, 0, s - 1, s - 1, Math.round(s / 6), bg);

  if (spec.glyph === "mail") {
    const m = Math.round(s * 0.16);
    const x0 = m;
    const x1 = s - 1 - m;
    const eh = Math.round((x1 - x0 + 1) * 0.7);
    const y0 = Math.floor((s - eh) / 2);
    const y1 = y0 + eh - 1;
    const yc = y0 + Math.round(eh * 0.55) - w;
    const mid = (x0 + x1 - w + 1) / 2;
    cv.outline(x0, y0, x1, y1, w, white);
    cv.line(x0, y0, Math.floor(mid), yc, w, white);
    cv.line(x1 - w + 1, y0, Math.ceil(mid), yc, w, white);
  } else if (spec.glyph === "lock") {
    const bw = Math.round(s * 0.5);
    const bh = Math.round(s * 0.375);
    const bx0 = Math.floor((s - bw) / 2);
    const bx1 = bx0 + bw - 1;
    const by1 = s - 1 - Math.round(s * 0.16);
    const by0 = by1 - bh + 1;
    const inset = Math.round(bw * 0.2);
    cv.outline(bx0 + inset, Math.round(s * 0.19), bx1 - inset, by0 + w, w, white);
    cv.rect(bx0, by0, bx1, by1, white);
    const kx = Math.floor((bx0 + bx1 + 1 - w) / 2);
    const ky = by0 + Math.floor((bh - 2 * w) / 2);
    for (let y = ky; y < ky + 2 * w; y++) for (let x = kx; x < kx + w; x++) cv.px(x, y, bg);
  } else {
    const ww = 2 * w;
    const x = Math.floor((s - ww) / 2);
    cv.rect(x, Math.round(s * 0.19), x + ww - 1, Math.round(s * 0.62), white);
    cv.rect(x, Math.round(s * 0.72), x + ww - 1, Math.round(s * 0.72) + ww - 1, white);
  }

  if (spec.unread > 0) {
    // A dark rim keeps the yellow badge apart from the white glyph it overlaps.
    const rim: Rgb = [Math.round(bg[0] * 0.45), Math.round(bg[1] * 0.45), Math.round(bg[2] * 0.45)];
    if (s < 22) {
      const r = Math.round(s * 0.19);
      cv.roundRect(s - 2 * r - 2, 0, s - 1, 2 * r + 1, r + 1, rim);
      cv.roundRect(s - 2 * r - 1, 1, s - 2, 2 * r, r, ICON_RGB.badge);
    } else {
      const label = spec.unread > 9 ? "9+" : String(spec.unread);
      const k = s >= 30 ? 2 : 1;
      const tw = label.length * 4 * k - k;
      const h = 5 * k + 4;
      const bw = Math.max(h, tw + 4);
      cv.roundRect(s - bw - 1, 0, s - 1, h, (h + 1) / 2, rim);
      cv.roundRect(s - bw, 0, s - 1, h - 1, h / 2, ICON_RGB.badge);
      cv.text(label, s - bw + Math.floor((bw - tw) / 2), 2, k, ICON_RGB.badgeText);
    }
  }
  return { width: s, height: s, data: cv.data };
}
