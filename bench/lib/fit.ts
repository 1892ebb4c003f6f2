// A straight line through points by least squares, with its R²: the soak's measure of
// whether the relay's memory still grows (the slope of the per-minute RSS low point).

export interface LineFit {
  slope: number;
  intercept: number;
  /** 1 when the points lie on the line; NaN for fewer than two points or a flat line. */
  r2: number;
  n: number;
}

export function fitLine(xs: number[], ys: number[]): LineFit {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return { slope: NaN, intercept: NaN, r2: NaN, n };
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const slope = sxx === 0 ? NaN : sxy / sxx;
  const intercept = my - slope * mx;
  // Share of the variance the line explains; a perfectly flat series has none to explain.
  const r2 = sxx === 0 || syy === 0 ? NaN : (sxy * sxy) / (sxx * syy);
  return { slope, intercept, r2, n };
}
