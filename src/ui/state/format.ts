// Number, duration and rate formatting shared by reducers' consumers; pure.

/** A metric value with fixed digits; infinities and missing values spelled out. */
export function fmtNum(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '-';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value !== 0 && (Math.abs(value) < 10 ** -digits || Math.abs(value) >= 1e6)) return value.toExponential(1);
  return value.toFixed(digits);
}

/** Large counts with k/M/G suffixes: 210000 -> "210k". */
export function fmtCount(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(0)}k`;
  return value.toFixed(abs < 10 ? 1 : 0);
}

/** Megabytes as MB or GB. */
export function fmtMb(mb: number | null | undefined): string {
  if (mb === null || mb === undefined || !Number.isFinite(mb)) return '-';
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

/** Bytes as MB/GB/TB for memory estimates. */
export function fmtBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Integer with thousands separators: 22581217 -> "22,581,217". */
export function fmtInt(value: number): string {
  return Math.round(value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Cut or pad text to exactly `width` columns (ASCII-width assumption for table cells). */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const t = text.length > width ? (width > 1 ? text.slice(0, width - 1) + '…' : text.slice(0, width)) : text;
  return align === 'left' ? t.padEnd(width) : t.padStart(width);
}

/** How far a run in a list got: `2/5 cv` (folds trained) or `12/40` (epochs); null before its first epoch. */
export function runProgress(r: {cv?: {done: number; folds: number}; epoch: number | null; epochs: number | null}): string | null {
  return r.cv ? `${r.cv.done}/${r.cv.folds} cv` : r.epoch != null ? `${r.epoch}/${r.epochs ?? '?'}` : null;
}
