// The icon bytes the systray2 helper takes for a platform, base64 as its protocol wants:
// PNG on Linux and macOS, ICO on Windows. Rendered on first use and kept, since a tray
// only ever shows a handful of (colour, glyph, badge) combinations.

import { drawIcon, type IconSpec } from "./icon-art.ts";
import { encodeIco, encodePng } from "./png.ts";

/** Linux hosts scale the picture to the panel; 32 px covers 16-32 px panels and HiDPI. */
export const LINUX_ICON_SIZE = 32;
/** The macOS menu bar is 22 pt, 44 px on Retina. */
export const MAC_ICON_SIZE = 44;
/** Windows picks the entry that fits: 16 px at 100 %, 32 px at 200 %. */
export const WINDOWS_ICON_SIZES = [16, 24, 32] as const;

const cache = new Map<string, string>();

/** The badge shows at most "9+", so counts above 10 draw the same icon. */
function cacheKey(spec: IconSpec, platform: NodeJS.Platform): string {
  return `${platform}/${spec.color}/${spec.glyph}/${Math.min(spec.unread, 10)}`;
}

export function iconBytes(spec: IconSpec, platform: NodeJS.Platform): Uint8Array {
  if (platform === "win32") return encodeIco(WINDOWS_ICON_SIZES.map((size) => ({ size, png: encodePng(drawIcon(spec, size)) })));
  return encodePng(drawIcon(spec, platform === "darwin" ? MAC_ICON_SIZE : LINUX_ICON_SIZE));
}

export function iconBase64(spec: IconSpec, platform: NodeJS.Platform): string {
  const key = cacheKey(spec, platform);
  let b64 = cache.get(key);
  if (b64 === undefined) {
    b64 = Buffer.from(iconBytes(spec, platform)).toString("base64");
    cache.set(key, b64);
  }
  return b64;
}
