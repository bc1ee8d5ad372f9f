// Text histogram with eighth-block bars, and the binning it shares with the PNG chart.
export interface HistogramOptions {
  bins: number;
  width: number;
  height: number;
  /** value range; default the finite min and max */
  min?: number;
  max?: number;
}

export interface Binned {
  counts: number[];
  min: number;
  max: number;
}

export function binValues(values: ArrayLike<number>, bins: number, min?: number, max?: number): Binned {
  if (!(Number.isInteger(bins) && bins >= 1)) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  let lo = min ?? Infinity;
  let hi = max ?? -Infinity;
  if (min === undefined || max === undefined) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      if (min === undefined && v < lo) lo = v;
      if (max === undefined && v > hi) hi = v;
    }
  }
  const counts = new Array<number>(bins).fill(0);
  if (!(hi >= lo)) return {counts, min: NaN, max: NaN};
  const span = hi - lo;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || v < lo || v > hi) continue;
    // With one distinct value everything lands in the middle bin.
    const b = span > 0 ? Math.min(bins - 1, Math.floor(((v - lo) / span) * bins)) : Math.floor(bins / 2);
    counts[b]++;
  }
  return {counts, min: lo, max: hi};
}

const EIGHTHS = ' \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588';

function formatTick(v: number): string {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-2) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

/** `height` bar lines (bins spread over `width` columns) and one axis line with the range. */
export function renderHistogram(values: ArrayLike<number>, opts: HistogramOptions): string[] {
  if (!(opts.width >= 1 && opts.height >= 1)) throw new RangeError('histogram width and height must be at least 1');
  const bins = Math.min(opts.bins, Math.floor(opts.width));
  const {counts, min, max} = binValues(values, bins, opts.min, opts.max);
  const colsPerBin = Math.max(1, Math.floor(opts.width / bins));
  const top = Math.max(...counts);
  const lines: string[] = [];
  for (let r = opts.height - 1; r >= 0; r--) {
    let line = '';
    for (const c of counts) {
      const eighths = top > 0 ? Math.round((c / top) * opts.height * 8) : 0;
      const cell = Math.max(0, Math.min(8, eighths - r * 8));
      // A non-empty bin always shows at least a sliver.
      const ch = cell === 0 && r === 0 && c > 0 ? EIGHTHS[1] : EIGHTHS[cell];
      line += ch.repeat(colsPerBin);
    }
    lines.push(line.trimEnd());
  }
  const axisWidth = colsPerBin * bins;
  const left = formatTick(min);
  const right = formatTick(max);
  const gap = Math.max(1, axisWidth - left.length - right.length);
  lines.push(top > 0 ? left + ' '.repeat(gap) + right : '(no values)');
  return lines;
}
