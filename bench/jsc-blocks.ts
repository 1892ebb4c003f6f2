// Where the relay's "16 KiB class" goes (bench/README.md, "Soak results"): JavaScriptCore's
// heap is made of 16 KiB blocks that Bun takes from mimalloc, each holding cells of one size,
// and JSC's collector does not move cells. So a few cells that outlive a burst of garbage keep
// every block they sit in. This allocates N small objects (a burst, as 2,000 sessions make),
// keeps one in every K of them (what outlives the burst), collects, and prints the live heap,
// JSC's block capacity, mimalloc's count of 16 KiB blocks in use and the RSS, before and after.
//
// usage: bun bench/jsc-blocks.ts [K ...]     (default: 1 10 100 1000 0; 0 keeps none)
// Each K runs in its own process, so one's blocks do not serve the next.

import { heapStats } from "bun:jsc";

const N = 400_000;
const MIB = 1024 * 1024;

async function child(k: number): Promise<void> {
  const figures = (tag: string) => {
    Bun.gc(true);
    const h = heapStats();
    console.log(`${tag}\theap ${(h.heapSize / MIB).toFixed(2)} MiB\tblocks ${(h.heapCapacity / MIB).toFixed(2)} MiB\tRSS ${(process.memoryUsage().rss / MIB).toFixed(1)} MiB`);
    Bun.unsafe.mimallocDump(); // on stderr: the parent picks the 16 KiB bin out
  };
  figures("before");
  let all: { a: number; b: number; c: null }[] = [];
  for (let i = 0; i < N; i++) all.push({ a: i, b: i * 2, c: null });
  const kept: object[] = [];
  if (k > 0) for (let i = 0; i < all.length; i += k) kept.push(all[i]!);
  all = [];
  // The collector frees dead blocks in the background: give it time, then measure twice.
  await Bun.sleep(1500);
  figures(`kept ${kept.length}`);
  await Bun.sleep(1500);
  figures(`kept ${kept.length}, 1.5 s later`);
}

async function parent(ks: number[]): Promise<void> {
  console.log(`${N.toLocaleString("en-US")} objects of 3 fields each; one in K kept; after a full collection each time`);
  for (const k of ks) {
    const p = Bun.spawn([process.execPath, import.meta.path, "--child", String(k)], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    const bins = err.split("\n").filter((l) => /^\s*bin M\s+40\s*:/.test(l)).map((l) => l.split(":")[1]!.trim().split(/\s{2,}/)[2]);
    const rows = out.trim().split("\n");
    console.log(`K = ${k}`);
    rows.forEach((r, i) => console.log(`  ${r}\tmimalloc 16 KiB bin in use ${bins[i] ?? "?"}`));
  }
}

const args = process.argv.slice(2);
if (args[0] === "--child") await child(Number(args[1]));
else await parent(args.length ? args.map(Number) : [1, 10, 100, 1000, 0]);
