// The benchmark harness keeps working: `bun bench/run.ts --quick --json FILE`
// runs every figure for a few seconds and writes rows with the fields the issue names and
// a row for each figure. No thresholds: CI machines are shared and the quick run's numbers
// mean nothing; only the harness is checked.

import { expect, test } from "bun:test";
import { spawn } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, Scratch } from "../support/harness.ts";

const FIELDS = ["name", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met"];
const FIGURES = ["relay", "seal", "connections", "handshake", "attachment", "mailbox"];

test("npm run bench -- --quick --json writes every figure's rows", async () => {
  const s = new Scratch();
  try {
    const out = s.path("bench.json");
    const p = spawn([process.execPath, join(ROOT, "bench/run.ts"), "--quick", "--json", out], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`bench/run.ts --quick exited ${code}\n${stderr}\n${stdout}`);
    expect(stdout).toContain("targets met");

    const rows = JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>[];
    expect(Array.isArray(rows)).toBe(true);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual([...FIELDS].sort());
      expect(typeof r.name).toBe("string");
      expect(typeof r.unit).toBe("string");
      expect(r.value === null || typeof r.value === "number").toBe(true);
      expect(r.baseline === null || typeof r.baseline === "string").toBe(true);
      expect(r.baseline_value === null || typeof r.baseline_value === "number").toBe(true);
      expect(r.ratio === null || typeof r.ratio === "number").toBe(true);
      expect(r.target === null || typeof r.target === "string").toBe(true);
      expect(r.met === null || typeof r.met === "boolean").toBe(true);
      // A target is judged exactly when there is one.
      expect(r.target === null).toBe(r.met === null);
    }
    for (const f of FIGURES) expect(rows.some((r) => (r.name as string).includes(f))).toBe(true);
    // Each figure compares with a baseline measured in the same run.
    for (const f of FIGURES.filter((f) => f !== "seal")) {
      expect(rows.some((r) => (r.name as string).includes(f) && typeof r.baseline_value === "number")).toBe(true);
    }
  } finally {
    await s.cleanup();
  }
}, 300_000);
