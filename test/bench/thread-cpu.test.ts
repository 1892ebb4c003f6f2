// ThreadCpu (bench/lib/procs.ts) counts the CPU of a process's threads picked by name, as the
// bench uses it for the runtime's JIT compiler threads: checked on this test's own process.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ThreadCpu } from "../../bench/lib/procs.ts";

/** Keeps this thread on a core for ms milliseconds of its own CPU time. */
function burn(ms: number): void {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 100_000; i++) x = (x * 31 + i) | 0;
    const d = process.cpuUsage(start);
    if ((d.user + d.system) / 1000 >= ms) break;
  }
  if (x === 42) console.log(x); // keeps the loop from being optimised away
}

const mainThreadName = readFileSync(`/proc/${process.pid}/task/${process.pid}/comm`, "utf8").trim();

test("the CPU of the threads by that name over the span is counted, others' not", () => {
  const mine = new ThreadCpu([process.pid], new RegExp(`^${mainThreadName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
  const none = new ThreadCpu([process.pid], /^no thread is called this$/);
  mine.sample();
  none.sample();
  burn(300);
  mine.sample();
  none.sample();
  // Ticks are 10 ms; the main thread ran at least the 300 ms it burnt (other threads of the
  // same name, if any, only add).
  expect(mine.seconds()).toBeGreaterThanOrEqual(0.28);
  expect(none.seconds()).toBe(0);
});

test("a process that is gone counts nothing and does not throw", () => {
  const gone = new ThreadCpu([2 ** 22 + 12345], /./);
  gone.sample();
  gone.sample();
  expect(gone.seconds()).toBe(0);
});
