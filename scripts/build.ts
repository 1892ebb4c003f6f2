// `npm run build` (README "Install"): one `bun build --compile` executable per platform in
// dist/, each running relay, ctrl and client with nothing else installed. Pages, htmx,
// sounds and the tray helpers are embedded because the code imports them as files
// (src/views/assets.ts, src/views/admin/assets.ts, src/client/tray-helpers.ts).
// Cross-compiling fetches each target's Bun runtime from the npm registry on first use;
// a target that cannot be built is reported with Bun's reason and makes the exit status 1.
//
//   bun scripts/build.ts [--target linux-x64]... [--outdir dist]

import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

export const TARGETS = {
  "linux-x64": "bun-linux-x64",
  "linux-arm64": "bun-linux-arm64",
  "darwin-arm64": "bun-darwin-arm64",
  "windows-x64": "bun-windows-x64",
} as const;
type Target = keyof typeof TARGETS;

const ROOT = resolve(import.meta.dir, "..");

function parseArgs(argv: string[]): { targets: Target[]; outdir: string } {
  const targets: Target[] = [];
  let outdir = join(ROOT, "dist");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === "--target" && v && v in TARGETS) targets.push(v as Target), i++;
    else if (a === "--outdir" && v) (outdir = resolve(v)), i++;
    else throw new Error(`usage: bun scripts/build.ts [--target ${Object.keys(TARGETS).join("|")}]... [--outdir DIR]`);
  }
  return { targets: targets.length ? targets : (Object.keys(TARGETS) as Target[]), outdir };
}

const { targets, outdir } = parseArgs(process.argv.slice(2));
mkdirSync(outdir, { recursive: true });
const failed: string[] = [];
for (const t of targets) {
  const outfile = join(outdir, `smsg-${t}${t.startsWith("windows") ? ".exe" : ""}`);
  const p = Bun.spawnSync([process.execPath, "build", "--compile", `--target=${TARGETS[t]}`, "--minify", join(ROOT, "src/main.ts"), "--outfile", outfile], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (p.exitCode === 0) console.log(`built ${outfile}`);
  else {
    const why = `${p.stderr.toString()}${p.stdout.toString()}`.trim().split("\n").slice(-3).join(" / ");
    console.error(`cannot build ${t}: ${why}`);
    failed.push(t);
  }
}
if (failed.length) {
  console.error(`not built: ${failed.join(", ")}`);
  process.exit(1);
}
