// Line charts in braille cells (2x4 dots per character). Pure: returns characters and the series owning each cell.

export interface PlotSeries {
  /** y values by x index; NaN or null marks a gap. */
  values: Array<number | null>;
  /** Draw connecting lines (else single dots per value). */
  lines?: boolean;
}

export interface PlotGrid {
  rows: string[];
  /** Series index that last drew in each cell, -1 for empty; same shape as rows. */
  owner: number[][];
  min: number;
  max: number;
  points: number;
}

const DOT_BITS = [
  [0x01, 0x08],
  [0x02, 0x10],
  [0x04, 0x20],
  [0x40, 0x80],
];

/** The y range covering all finite values, widened when flat so a constant series sits mid-chart. */
export function valueRange(series: PlotSeries[], fixed?: {min?: number; max?: number}): {min: number; max: number} {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    for (const v of s.values) {
      if (v === null || !Number.isFinite(v)) continue;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  if (fixed?.min !== undefined) min = fixed.min;
  if (fixed?.max !== undefined) max = fixed.max;
  if (!Number.isFinite(min) || !Number.isFinite(max)) return {min: fixed?.min ?? 0, max: fixed?.max ?? 1};
  if (max - min < 1e-12) {
    // Flat: widen around the value, but never past a fixed bound (a learning rate of 0 stays the bottom).
    const pad = Math.abs(max) * 0.05 || 0.5;
    const lo = fixed?.min ?? min - pad;
    return {min: lo, max: fixed?.max ?? Math.max(max + pad, lo + 2 * pad)};
  }
  return {min, max};
}

export function plotBraille(series: PlotSeries[], width: number, height: number, fixed?: {min?: number; max?: number}): PlotGrid {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`chart size must be positive integers, got ${width}x${height}`);
  }
  const {min, max} = valueRange(series, fixed);
  const bits = Array.from({length: height}, () => new Array<number>(width).fill(0));
  const owner = Array.from({length: height}, () => new Array<number>(width).fill(-1));
  const dotsW = width * 2;
  const dotsH = height * 4;
  const points = Math.max(0, ...series.map((s) => s.values.length));
  const toX = (i: number) => (points <= 1 ? 0 : Math.round((i / (points - 1)) * (dotsW - 1)));
  const toY = (v: number) => {
    const t = (Math.min(max, Math.max(min, v)) - min) / (max - min);
    return Math.round((1 - t) * (dotsH - 1));
  };
  const set = (x: number, y: number, s: number) => {
    const cx = Math.floor(x / 2);
    const cy = Math.floor(y / 4);
    if (cx < 0 || cy < 0 || cx >= width || cy >= height) return;
    bits[cy][cx] |= DOT_BITS[y % 4][x % 2];
    owner[cy][cx] = s;
  };
  series.forEach((s, si) => {
    let prev: [number, number] | null = null;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        prev = null;
        return;
      }
      const p: [number, number] = [toX(i), toY(v)];
      if (prev && s.lines !== false) {
        // Step along the longer axis so the line has no holes.
        const [x0, y0] = prev;
        const n = Math.max(Math.abs(p[0] - x0), Math.abs(p[1] - y0), 1);
        for (let k = 0; k <= n; k++) set(Math.round(x0 + ((p[0] - x0) * k) / n), Math.round(y0 + ((p[1] - y0) * k) / n), si);
      } else {
        set(p[0], p[1], si);
      }
      prev = p;
    });
  });
  const rows = bits.map((row) => row.map((b) => (b ? String.fromCharCode(0x2800 + b) : ' ')).join(''));
  return {rows, owner, min, max, points};
}
