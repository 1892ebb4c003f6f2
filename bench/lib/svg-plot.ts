// A line plot as hand-written SVG (no plotting dependency): the soak draws the relay's RSS
// and JS heap over time beside its CSV, so a slow rise is seen at a glance.

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** draw points as dots instead of a line */
  dots?: boolean;
}

const W = 960;
const H = 420;
const M = { left: 64, right: 180, top: 30, bottom: 44 };

function niceStep(span: number, ticks: number): number {
  const raw = span / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function svgPlot(o: { title: string; xLabel: string; yLabel: string; series: Series[] }): string {
  const all = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const x0 = Math.min(0, ...all.map((p) => p[0]));
  const x1 = Math.max(x0 + 1e-9, ...all.map((p) => p[0]));
  const y0 = 0;
  const y1 = Math.max(1, ...all.map((p) => p[1])) * 1.05;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="18" font-size="14">${esc(o.title)}</text>`,
  ];
  const xs = niceStep(x1 - x0, 10);
  for (let x = Math.ceil(x0 / xs) * xs; x <= x1 + 1e-9; x += xs) {
    out.push(`<line x1="${sx(x).toFixed(1)}" y1="${M.top}" x2="${sx(x).toFixed(1)}" y2="${M.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${sx(x).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle">${+x.toFixed(3)}</text>`);
  }
  const ys = niceStep(y1 - y0, 8);
  for (let y = 0; y <= y1 + 1e-9; y += ys) {
    out.push(`<line x1="${M.left}" y1="${sy(y).toFixed(1)}" x2="${M.left + pw}" y2="${sy(y).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${+y.toFixed(3)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.dots) for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    else if (pts.length) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.2" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}"/>`);
    const ly = M.top + 10 + i * 18;
    out.push(`<line x1="${M.left + pw + 12}" y1="${ly}" x2="${M.left + pw + 32}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`);
    out.push(`<text x="${M.left + pw + 38}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
