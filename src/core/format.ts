// How numbers read, once for both faces: durations, metrics (inf spelled out), integers, sizes, axis triples.

/** Seconds as a short duration: "42s", "3m05s", "1h02m"; "-" when unknown. */
export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

/** A number the way a person writes it: integers without ".0", others with `digits` significant decimals. */
export function fmtValue(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '-';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (Number.isInteger(value)) return String(value);
  return String(+value.toFixed(digits));
}

/** Post-processing steps as --postprocess takes them: "largest,fill_holes", or "none". */
export function fmtSteps(steps: readonly string[]): string {
  return steps.join(',') || 'none';
}

/** A z,y,x triple, labelled: "z,y,x 2 x 1.25 x 1.25 mm". */
export function fmtZyx(values: readonly number[], unit = ''): string {
  return `z,y,x ${values.map((v) => fmtValue(v, 3)).join(' x ')}${unit ? ` ${unit}` : ''}`;
}

/** Indices of a file's voxel axes in z, y, x order, from its orientation code ("RAS", "LPS", "PSR", ...): the
 * axis along S/I is z, A/P is y, R/L is x, as the engine's reorientation to RAS orders them. Without a usable
 * code, the file's own axes reversed (k, j, i). */
export function zyxAxes(orientation: string | null | undefined): [number, number, number] {
  const code = (orientation ?? '').toUpperCase();
  const find = (letters: string) => [...code].findIndex((c) => letters.includes(c));
  const axes = [find('SI'), find('AP'), find('RL')];
  return code.length === 3 && new Set(axes).size === 3 && axes.every((a) => a >= 0) ? (axes as [number, number, number]) : [2, 1, 0];
}

/** A per-voxel-axis triple (as stored in a file) in z, y, x order. */
export function toZyx<T>(values: readonly T[], orientation: string | null | undefined): T[] {
  return zyxAxes(orientation).map((i) => values[i]);
}
