// The soak keeps working (issue 16): `bun bench/soak.ts` for half a minute at a small load
// writes a CSV with rows of every column and prints a summary line that parses. No
// thresholds: CI machines are shared and so short a run's numbers mean nothing; only the
// harness is checked (the soak itself is run by hand, bench/README.md "Soak").

import { expect, test } from "bun:test";
import { spawn } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, Scratch } from "../support/harness.ts";

test("npm run soak -- --minutes 0.5 writes its CSV, its plot and a summary line", async () => {
  const s = new Scratch();
  try {
    const out = s.path("soak");
    const args = ["--minutes", "0.5", "--idle", "50", "--churn", "20", "--rate", "100", "--attachment-every", "0", "--out", out];
    const p = spawn([process.execPath, join(ROOT, "bench/soak.ts"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`bench/soak.ts exited ${code}\n${stderr}\n${stdout}`);

    const line = stdout.split("\n").find((l) => l.startsWith("soak: minutes="));
    expect(line).toBeDefined();
    const fields = Object.fromEntries(line!.slice("soak: ".length).split(" ").map((kv) => kv.split("=") as [string, string]));
    for (const k of ["sent", "delivered", "failed", "lost", "p50_ms", "p99_ms", "rss_after_mib", "rss_before_mib", "rss_after_gc_mib"]) {
      expect(Number.isFinite(Number(fields[k]))).toBe(true);
    }
    // Three 10 s buckets in half a minute: the last two thirds give a slope and its fit.
    expect(Number.isFinite(Number(fields.slope_mib_per_min))).toBe(true);
    expect(Number(fields.sent)).toBeGreaterThan(0);
    expect(Number(fields.delivered)).toBe(Number(fields.sent));
    expect(fields.attachments).toBe("0/0");

    const [head, ...rows] = readFileSync(join(out, "soak.csv"), "utf8").trim().split("\n");
    const cols = head!.split(",");
    expect(cols).toContain("rss_mib");
    expect(cols).toContain("heap_mib");
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) {
      const cells = r.split(",");
      expect(cells.length).toBe(cols.length);
      for (const c of ["rss_mib", "heap_mib", "fds", "sent"]) expect(Number(cells[cols.indexOf(c)])).toBeGreaterThan(0);
    }
    expect(readFileSync(join(out, "soak.svg"), "utf8")).toContain("<polyline");
    expect(existsSync(join(out, "after-clients.smaps_rollup"))).toBe(true);
  } finally {
    await s.cleanup();
  }
}, 300_000);

// The cluster soak: two nodes on a nats-server, node a killed (SIGKILL) and started again
// part-way. Every pair touches node a, so every pair loses a connection; its messages in
// flight must still arrive, each once, through the generator's retry as the real client's
// outbox retries: nothing lost, nothing failed, per-node columns and figures.
test.skipIf(!Bun.which("nats-server"))("npm run soak -- --cluster --kill-at: a node killed and restarted, nothing lost", async () => {
  const s = new Scratch();
  try {
    const out = s.path("soak-cluster");
    const args = ["--cluster", "--minutes", "0.5", "--kill-at", "0.2", "--idle", "40", "--churn", "20", "--rate", "100", "--attachment-every", "0", "--settle-deadline", "10", "--out", out];
    const p = spawn([process.execPath, join(ROOT, "bench/soak.ts"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`bench/soak.ts --cluster exited ${code}\n${stderr}\n${stdout}`);

    const line = stdout.split("\n").find((l) => l.startsWith("soak: minutes="));
    expect(line).toBeDefined();
    const fields = Object.fromEntries(line!.slice("soak: ".length).split(" ").map((kv) => kv.split("=") as [string, string]));
    expect(Number(fields.sent)).toBeGreaterThan(0);
    expect(Number(fields.delivered)).toBe(Number(fields.sent));
    expect(Number(fields.lost)).toBe(0);
    expect(Number(fields.failed)).toBe(0);
    // The kill happened and moved every pair (each has a connection on node a).
    expect(Number(fields.killed_at_min)).toBeGreaterThanOrEqual(0.2);
    expect(Number(fields.rejoins)).toBeGreaterThanOrEqual(50);
    for (const n of ["a", "b"]) for (const k of ["rss_after_mib", "rss_before_mib", "rss_after_gc_mib"]) expect(Number(fields[`${n}_${k}`])).toBeGreaterThan(0);

    const [head, ...rows] = readFileSync(join(out, "soak.csv"), "utf8").trim().split("\n");
    const cols = head!.split(",");
    for (const c of ["a_rss_mib", "b_rss_mib", "a_fds", "b_fds", "sent", "resent", "duplicates", "pair_rejoins"]) expect(cols).toContain(c);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) {
      const cells = r.split(",");
      expect(cells.length).toBe(cols.length);
      for (const c of ["a_rss_mib", "b_rss_mib", "a_fds", "b_fds"]) expect(Number(cells[cols.indexOf(c)])).toBeGreaterThan(0);
    }
    expect(existsSync(join(out, "a.after-clients.smaps_rollup"))).toBe(true);
    expect(existsSync(join(out, "b.after-clients.smaps_rollup"))).toBe(true);
  } finally {
    await s.cleanup();
  }
}, 300_000);
