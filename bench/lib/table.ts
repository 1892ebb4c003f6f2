// Printing the rows as a plain-text table for a terminal, widest cell per column.

import type { Row } from "./row.ts";

export function formatTable(rows: Row[]): string {
  const head = ["figure", "value", "baseline", "ratio", "target", "met"];
  const cells = rows.map((r) => [
    r.name,
    r.value === null ? "-" : `${fmt(r.value)} ${r.unit}`,
    r.baseline === null ? "-" : `${r.baseline}: ${r.baseline_value === null ? "-" : fmt(r.baseline_value)}`,
    r.ratio === null ? "-" : `${fmt(r.ratio)}x`,
    r.target ?? "-",
    r.met === null ? "-" : r.met ? "met" : "MISSED",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((s, i) => s.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString("en-US");
  if (abs >= 100) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}
