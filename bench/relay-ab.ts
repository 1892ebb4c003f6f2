// The relay figure's smsg run (bench/figures/relay-rate.ts: 50 pairs, 8 in flight each, 1 KiB)
// against two versions of the relay in turn, so that a cut is judged against what it
// replaces under the same load of this shared machine (bench/README.md, "Relay CPU per
// message"). Each tree is a checkout with node_modules (e.g. `git archive BASE | tar -x -C DIR`
// and a symlink); the generators are this tree's. Not part of `npm run bench`.
//
// usage: bun bench/relay-ab.ts BEFORE_TREE AFTER_TREE [RUNS]

import { loadavg } from "node:os";
import { resolve } from "node:path";
import { BenchContext } from "./lib/context.ts";
import { smsgRate } from "./figures/relay-rate.ts";

const [before, after] = [process.argv[2], process.argv[3]];
if (!before || !after) throw new Error("usage: bun bench/relay-ab.ts BEFORE_TREE AFTER_TREE [RUNS]");
const runs = Number(process.argv[4] ?? 4);
const ctx = new BenchContext(false);
const sides = [
  { name: "before", script: resolve(before, "bench/servers/relay.ts"), cpu: [] as number[], user: [] as number[] },
  { name: "after", script: resolve(after, "bench/servers/relay.ts"), cpu: [] as number[], user: [] as number[] },
];
const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");
try {
  for (let i = 0; i < runs; i++) {
    // Alternate which side goes first, so neither always follows the other.
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      process.env.BENCH_RELAY_SCRIPT = side.script;
      const r = await smsgRate(ctx);
      side.cpu.push(r.serverCpuUs);
      side.user.push(r.serverUserUs);
      ctx.log(`${side.name}: ${r.rate.toFixed(0)} msg/s, relay CPU ${r.serverCpuUs.toFixed(1)} us/msg (${r.serverUserUs.toFixed(1)} user), load ${load()}`);
    }
  }
} finally {
  ctx.cleanup();
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const s of sides) {
  console.log(`${s.name}: relay CPU per message ${s.cpu.map((v) => v.toFixed(1)).join(" ")} us (median ${med(s.cpu).toFixed(1)}, least ${Math.min(...s.cpu).toFixed(1)}; user ${s.user.map((v) => v.toFixed(1)).join(" ")})`);
}
