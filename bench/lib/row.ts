// One line of the benchmark table: a figure, the baseline measured beside it in
// the same run, their ratio, and the target with whether it was met. A row whose target
// was missed keeps met = false; nothing here rounds a miss into a pass.

export interface Row {
  name: string;
  value: number | null;
  unit: string;
  baseline: string | null;
  baseline_value: number | null;
  /** value / baseline_value, when both exist and share a unit. */
  ratio: number | null;
  target: string | null;
  /** null when the figure has no target; false when missed or not measurable. */
  met: boolean | null;
}

export interface RowSpec {
  name: string;
  value: number | null;
  unit: string;
  baseline?: { name: string; value: number | null; sameUnit?: boolean };
  /** text as printed, and the check on the measured value and ratio */
  target?: { text: string; check: (value: number, ratio: number | null) => boolean };
}

export function row(s: RowSpec): Row {
  const bv = s.baseline?.value ?? null;
  const ratio =
    s.value !== null && bv !== null && bv !== 0 && s.baseline?.sameUnit !== false ? round(s.value / bv, 3) : null;
  let met: boolean | null = null;
  if (s.target) met = s.value !== null && Number.isFinite(s.value) && s.target.check(s.value, ratio);
  return {
    name: s.name,
    value: s.value === null ? null : round(s.value, 3),
    unit: s.unit,
    baseline: s.baseline?.name ?? null,
    baseline_value: bv === null ? null : round(bv, 3),
    ratio,
    target: s.target?.text ?? null,
    met,
  };
}

/** A figure that could not be measured at all: it stays in the table, as missed. */
export function unavailable(name: string, unit: string, why: string, target?: string): Row {
  return {
    name: `${name} (not available: ${why})`,
    value: null,
    unit,
    baseline: null,
    baseline_value: null,
    ratio: null,
    target: target ?? "measurable",
    met: false,
  };
}

function round(v: number, digits: number): number {
  if (!Number.isFinite(v)) return v;
  const abs = Math.abs(v);
  // Keep about four significant figures whatever the magnitude.
  const d = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? Math.max(digits - 1, 2) : digits + 1;
  const f = 10 ** d;
  return Math.round(v * f) / f;
}
