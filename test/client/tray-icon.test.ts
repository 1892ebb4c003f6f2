// The tray icon's pixels and containers: PNGs that a decoder written here from
// the PNG spec reads back to the drawn pixels, ICO directories that point at them, and
// icons whose colours say connected (green) or not (red), with a badge for unread mail.

import { describe, expect, test } from "bun:test";
import { crc32 as zlibCrc32, inflateSync } from "node:zlib";
import { ICON_RGB, drawIcon, type IconSpec } from "../../src/client/tray/icon-art.ts";
import { crc32, encodeIco, encodePng, type Rgba } from "../../src/client/tray/png.ts";
import { LINUX_ICON_SIZE, WINDOWS_ICON_SIZES, iconBase64 } from "../../src/client/tray/tray-icon.ts";

/** A strict PNG reader for what encodePng writes: checks signature, CRCs and IHDR. */
function decodePng(png: Uint8Array): Rgba {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let o = 8;
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  const types: string[] = [];
  while (o < png.length) {
    const len = v.getUint32(o);
    const type = new TextDecoder().decode(png.subarray(o + 4, o + 8));
    const body = png.subarray(o + 8, o + 8 + len);
    expect(v.getUint32(o + 8 + len)).toBe(zlibCrc32(png.subarray(o + 4, o + 8 + len)));
    types.push(type);
    if (type === "IHDR") {
      width = v.getUint32(o + 8);
      height = v.getUint32(o + 12);
      expect([...body.subarray(8)]).toEqual([8, 6, 0, 0, 0]);
    }
    if (type === "IDAT") idat.push(body);
    o += 12 + len;
  }
  expect(types[0]).toBe("IHDR");
  expect(types.at(-1)).toBe("IEND");
  const raw = inflateSync(Buffer.concat(idat));
  expect(raw.length).toBe(height * (1 + width * 4));
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (1 + width * 4)]).toBe(0); // filter "None"
    data.set(raw.subarray(y * (1 + width * 4) + 1, (y + 1) * (1 + width * 4)), y * width * 4);
  }
  return { width, height, data };
}

type Kind = "green" | "red" | "glyph" | "badge" | "other" | "clear";

function kindAt(img: Rgba, x: number, y: number): Kind {
  const i = (y * img.width + x) * 4;
  if (img.data[i + 3] === 0) return "clear";
  const rgb = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
  for (const k of ["green", "red", "glyph", "badge"] as const) if (ICON_RGB[k].every((c, j) => c === rgb[j])) return k;
  return "other";
}

function count(img: Rgba, k: Kind, x0 = 0, y0 = 0, x1 = img.width, y1 = img.height): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (kindAt(img, x, y) === k) n++;
  return n;
}

const SIZES = [16, 20, 22, 24, 28, 32, 44];

describe("png", () => {
  test("crc32 agrees with zlib", () => {
    for (const s of ["", "IEND", "The quick brown fox jumps over the lazy dog"]) {
      const b = new TextEncoder().encode(s);
      expect(crc32(b)).toBe(zlibCrc32(b));
    }
  });

  test("decodes back to the drawn pixels, every size and kind", () => {
    for (const size of SIZES) {
      for (const spec of [
        { color: "green", glyph: "mail", unread: 0 },
        { color: "red", glyph: "lock", unread: 4 },
        { color: "red", glyph: "alert", unread: 40 },
      ] as IconSpec[]) {
        const img = drawIcon(spec, size);
        const back = decodePng(encodePng(img));
        expect(back.width).toBe(size);
        expect(back.height).toBe(size);
        expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
      }
    }
  });

  test("refuses a size that does not match the data", () => {
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(15) })).toThrow(/16/);
    expect(() => encodePng({ width: 0, height: 2, data: new Uint8Array(0) })).toThrow(/size/);
    expect(() => drawIcon({ color: "green", glyph: "mail", unread: 0 }, 8)).toThrow(/16\.\.64/);
  });

  test("an ICO's directory points at each PNG with its size", () => {
    const pngs = [16, 32].map((size) => ({ size, png: encodePng(drawIcon({ color: "green", glyph: "mail", unread: 0 }, size)) }));
    const ico = encodeIco(pngs);
    const v = new DataView(ico.buffer);
    expect([v.getUint16(0, true), v.getUint16(2, true), v.getUint16(4, true)]).toEqual([0, 1, 2]);
    pngs.forEach((p, i) => {
      const e = 6 + 16 * i;
      expect(ico[e]).toBe(p.size);
      expect(ico[e + 1]).toBe(p.size);
      expect(v.getUint16(e + 6, true)).toBe(32);
      const len = v.getUint32(e + 8, true);
      const off = v.getUint32(e + 12, true);
      expect(Buffer.from(ico.subarray(off, off + len)).equals(Buffer.from(p.png))).toBe(true);
    });
  });
});

describe("icon art", () => {
  test("the background colour fills most of the icon and the corners are rounded off", () => {
    for (const size of SIZES) {
      for (const color of ["green", "red"] as const) {
        for (const glyph of ["mail", "lock", "alert"] as const) {
          const img = drawIcon({ color, glyph, unread: 0 }, size);
          expect(count(img, color)).toBeGreaterThan(size * size * 0.5);
          expect(count(img, color === "green" ? "red" : "green")).toBe(0);
          expect(count(img, "glyph")).toBeGreaterThan(size);
          expect(count(img, "other")).toBe(0); // no blended pixels: crisp at every size
          expect(kindAt(img, 0, 0)).toBe("clear");
          expect(kindAt(img, size - 1, size - 1)).toBe("clear");
          expect(kindAt(img, size >> 1, 0)).toBe(color);
        }
      }
    }
  });

  test("the three glyphs differ", () => {
    for (const size of SIZES) {
      const px = (glyph: IconSpec["glyph"]) => Buffer.from(drawIcon({ color: "red", glyph, unread: 0 }, size).data);
      expect(px("mail").equals(px("lock"))).toBe(false);
      expect(px("mail").equals(px("alert"))).toBe(false);
      expect(px("lock").equals(px("alert"))).toBe(false);
    }
  });

  test("unread mail adds a badge in the top right corner, and only then", () => {
    for (const size of SIZES) {
      const q = size >> 1;
      expect(count(drawIcon({ color: "green", glyph: "mail", unread: 0 }, size), "badge")).toBe(0);
      for (const unread of [1, 7, 10, 250]) {
        const img = drawIcon({ color: "green", glyph: "mail", unread }, size);
        expect(count(img, "badge", q, 0, size, q)).toBeGreaterThan(4);
        expect(count(img, "badge", 0, q, size, size)).toBe(0);
        expect(count(img, "badge", 0, 0, Math.floor(size / 3), q)).toBe(0);
      }
    }
  });

  test("from 22 px the badge shows the count; above 9 it says 9+", () => {
    const px = (unread: number, size: number) => Buffer.from(drawIcon({ color: "red", glyph: "mail", unread }, size).data);
    for (const size of [22, 24, 32]) {
      expect(px(1, size).equals(px(2, size))).toBe(false);
      expect(px(9, size).equals(px(10, size))).toBe(false);
      expect(px(10, size).equals(px(99, size))).toBe(true);
    }
    // 16 px has room for a dot only.
    expect(px(1, 16).equals(px(2, 16))).toBe(true);
  });
});

describe("platform bytes", () => {
  test("Linux gets a 32 px PNG, Windows an ICO with 16, 24 and 32 px", () => {
    const spec: IconSpec = { color: "green", glyph: "mail", unread: 2 };
    const linux = decodePng(Buffer.from(iconBase64(spec, "linux"), "base64"));
    expect(linux.width).toBe(LINUX_ICON_SIZE);
    expect(Buffer.from(linux.data).equals(Buffer.from(drawIcon(spec, LINUX_ICON_SIZE).data))).toBe(true);
    const ico = Buffer.from(iconBase64(spec, "win32"), "base64");
    expect(ico.readUInt16LE(2)).toBe(1);
    expect(ico.readUInt16LE(4)).toBe(WINDOWS_ICON_SIZES.length);
    expect(WINDOWS_ICON_SIZES.map((_, i) => ico[6 + 16 * i])).toEqual([...WINDOWS_ICON_SIZES]);
  });

  test("green and red icons are different bytes; counts above 10 share one", () => {
    const b = (color: IconSpec["color"], unread: number) => iconBase64({ color, glyph: "mail", unread }, "linux");
    expect(b("green", 0)).not.toBe(b("red", 0));
    expect(b("green", 11)).toBe(b("green", 500));
  });
});
