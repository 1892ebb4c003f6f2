// Image containers for the tray icon: PNG (Linux and macOS helpers take PNG bytes) and an
// ICO that wraps PNGs (the Windows helper loads icons through LoadImage, which wants ICO).
// Pure code: pixels in, bytes out; no files, no canvas library for a 32-pixel picture.

import { deflateSync } from "node:zlib";

/** An RGBA picture, 4 bytes per pixel, rows top to bottom, no padding. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 as PNG chunks use it (ISO 3309, the same as zlib's). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  v.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** PNG, 8-bit RGBA (colour type 6), every row with filter 0. */
export function encodePng(img: Rgba): Uint8Array {
  const { width: w, height: h, data } = img;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new RangeError(`encodePng: bad size ${w}x${h}`);
  if (data.length !== w * h * 4) throw new RangeError(`encodePng: data has ${data.length} bytes, want ${w * h * 4}`);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr.set([8, 6, 0, 0, 0], 8); // bit depth 8, RGBA, deflate, filter method 0, no interlace
  const raw = new Uint8Array(h * (1 + w * 4));
  for (let y = 0; y < h; y++) raw.set(data.subarray(y * w * 4, (y + 1) * w * 4), y * (1 + w * 4) + 1);
  const parts = [SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An ICO file holding PNG images (allowed since Windows Vista), one per size. */
export function encodeIco(images: { size: number; png: Uint8Array }[]): Uint8Array {
  const head = 6 + 16 * images.length;
  const out = new Uint8Array(head + images.reduce((n, i) => n + i.png.length, 0));
  const v = new DataView(out.buffer);
  v.setUint16(2, 1, true); // type 1: icon
  v.setUint16(4, images.length, true);
  let offset = head;
  images.forEach((img, i) => {
    if (img.size < 1 || img.size > 256) throw new RangeError(`encodeIco: size ${img.size} is not 1..256`);
    const e = 6 + 16 * i;
    out[e] = img.size % 256; // 0 means 256
    out[e + 1] = img.size % 256;
    v.setUint16(e + 4, 1, true); // colour planes
    v.setUint16(e + 6, 32, true); // bits per pixel
    v.setUint32(e + 8, img.png.length, true);
    v.setUint32(e + 12, offset, true);
    out.set(img.png, offset);
    offset += img.png.length;
  });
  return out;
}
