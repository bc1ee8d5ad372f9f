// Block-character bars: progress bars with eighth-cell precision and histogram bins. Pure.

const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar `width` cells wide filled to `fraction` (clamped to [0, 1]). */
export function blockBar(fraction: number, width: number, empty = '░'): string {
  if (width <= 0) return '';
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = PARTIAL[eighths % 8];
  return '█'.repeat(full) + part + empty.repeat(Math.max(0, width - full - (part ? 1 : 0)));
}

export interface Bins {
  counts: number[];
  edges: number[];
}

/** Equal-width bins over the finite values; one bin when all values are equal. */
export function histogramBins(values: number[], bins: number): Bins {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return {counts: new Array(bins).fill(0), edges: Array.from({length: bins + 1}, (_, i) => i)};
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const n = hi > lo ? bins : 1;
  const width = hi > lo ? (hi - lo) / n : 1;
  const counts = new Array<number>(n).fill(0);
  for (const v of finite) counts[Math.min(n - 1, Math.floor((v - lo) / width))]++;
  return {counts, edges: Array.from({length: n + 1}, (_, i) => lo + i * width)};
}

const LEVELS = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/** Vertical bars `height` rows tall, one column per count (top row first). */
export function columnBars(counts: number[], height: number): string[] {
  const peak = Math.max(1, ...counts);
  const rows: string[] = [];
  for (let r = height - 1; r >= 0; r--) {
    rows.push(
      counts
        .map((c) => {
          const eighths = Math.round((c / peak) * height * 8) - r * 8;
          return LEVELS[Math.max(0, Math.min(8, eighths))];
        })
        .join(''),
    );
  }
  return rows;
}
