// Writes every tray icon variant as PNG files, to look at them: the client draws
// its icons itself at run time (src/client/tray/icon-art.ts); this only shows them.
//   bun scripts/tray-icons.ts OUT_DIR [--scale N]   (N > 1 enlarges each pixel N times)

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { drawIcon, type IconSpec } from "../src/client/tray/icon-art.ts";
import { encodePng, type Rgba } from "../src/client/tray/png.ts";

function enlarge(img: Rgba, k: number): Rgba {
  const w = img.width * k;
  const data = new Uint8Array(w * img.height * k * 4);
  for (let y = 0; y < img.height * k; y++) {
    for (let x = 0; x < w; x++) {
      const from = (Math.floor(y / k) * img.width + Math.floor(x / k)) * 4;
      data.set(img.data.subarray(from, from + 4), (y * w + x) * 4);
    }
  }
  return { width: w, height: img.height * k, data };
}

const out = process.argv[2];
if (!out) {
  console.error("usage: bun scripts/tray-icons.ts OUT_DIR [--scale N]");
  process.exit(2);
}
const si = process.argv.indexOf("--scale");
const scale = si > 0 ? Number(process.argv[si + 1]) : 1;
mkdirSync(out, { recursive: true });
const specs: IconSpec[] = [];
for (const color of ["green", "red"] as const) {
  for (const unread of [0, 3, 12]) specs.push({ color, glyph: "mail", unread });
}
specs.push({ color: "red", glyph: "lock", unread: 0 }, { color: "red", glyph: "alert", unread: 0 }, { color: "red", glyph: "alert", unread: 2 });
for (const size of [16, 22, 24, 32, 44]) {
  for (const spec of specs) {
    const file = join(out, `${size}-${spec.color}-${spec.glyph}-${spec.unread}.png`);
    writeFileSync(file, encodePng(enlarge(drawIcon(spec, size), scale)));
  }
}
console.log(`wrote ${specs.length * 5} icons to ${out}`);
