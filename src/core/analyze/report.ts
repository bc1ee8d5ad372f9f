// Text report of a dataset analysis: case table, summary, label-volume histogram, centre slices.
// Direct module imports keep PNG encoding (pngjs) out of the text path's start-up.
import {toZyx} from '../format.js';
import {renderSliceHalfBlocks} from '../render/halfblock.js';
import {renderHistogram} from '../render/histogram.js';
import {formatNumber as num, sideBySide, table} from '../render/table.js';
import type {DatasetAnalysis, SliceView} from './types.js';

export interface ReportOptions {
  color: boolean;
  palette?: 'truecolor' | '256';
  columns: number;
  /** case whose slices are drawn (default: the first with slices) */
  caseName?: string;
  slices?: Record<string, SliceView[]>;
}

const pct = (f: number) => `${(f * 100).toFixed(1)} %`;

export function foregroundLabels(a: DatasetAnalysis): string[] {
  return Object.keys(a.summary.labelVolumes);
}

/** The orientation most cases share: the summary's per-file-axis medians are shown in its z, y, x order. */
export function commonOrientation(a: DatasetAnalysis): string | null {
  return Object.entries(a.summary.orientations).sort((x, y) => y[1] - x[1])[0]?.[0] ?? null;
}

export function caseTable(a: DatasetAnalysis): string[] {
  const fg = foregroundLabels(a);
  const header = ['case', 'shape z,y,x', 'spacing z,y,x mm', 'orient', 'min', 'max', 'mean', 'p0.5', 'p99.5', ...fg.map((v) => `${a.summary.labelVolumes[v].name} mL (voxels)`)];
  const rows = a.cases.map((c) => [
    c.name,
    toZyx(c.shape.slice(0, 3), c.orientation).join('x'),
    toZyx(c.spacing.slice(0, 3), c.orientation).map((s) => num(s)).join('x'),
    c.orientation,
    num(c.intensity.min),
    num(c.intensity.max),
    num(c.intensity.mean),
    num(c.intensity.p005),
    num(c.intensity.p995),
    ...fg.map((v) => `${(c.labelVolumes[v]?.ml ?? 0).toFixed(1)} (${c.labelVolumes[v]?.voxels ?? 0})`),
  ]);
  return table(header, rows, header.map((_, i) => i >= 4));
}

export function summaryLines(a: DatasetAnalysis): string[] {
  const s = a.summary;
  const usual = commonOrientation(a);
  const field = (k: string, v: string) => `  ${k.padEnd(16)}${v}`;
  const lines = [
    'Summary',
    field('cases', `${s.cases} analysed of ${a.pairs} pairs`),
    field('median spacing', `z,y,x ${toZyx(s.medianSpacing, usual).map((v) => num(v)).join(' x ')} mm`),
    field('shapes', `z,y,x ${toZyx([0, 1, 2], usual).map((i) => (s.shapeMin[i] === s.shapeMax[i] ? `${s.shapeMin[i]}` : `${s.shapeMin[i]}-${s.shapeMax[i]}`)).join(' x ')}`),
    field('orientation', Object.entries(s.orientations).map(([o, n]) => `${o} (${n})`).join(', ') || '-'),
    field('intensity', `${num(s.intensity.min)} .. ${num(s.intensity.max)}, mean of case means ${num(s.intensity.meanOfMeans)}`),
  ];
  for (const l of Object.values(s.labelVolumes)) {
    lines.push(field(l.name, `mean ${num(l.meanMl)} mL, min ${num(l.minMl)}, max ${num(l.maxMl)} (in ${l.cases}/${s.cases} cases)`));
  }
  const balance = Object.entries(s.classBalance).map(([v, f]) => `${a.labels[v] ?? `label ${v}`} ${pct(f)}`);
  lines.push(field('class balance', balance.join(', ') || '-'));
  return lines;
}

export function histogramLines(a: DatasetAnalysis, columns: number): string[] {
  const out: string[] = [];
  for (const [v, l] of Object.entries(a.summary.labelVolumes)) {
    const values = a.cases.map((c) => c.labelVolumes[v]?.ml ?? 0);
    if (values.length === 0) continue;
    const width = Math.max(10, Math.min(60, columns - 4));
    out.push(`Label volume histogram: ${l.name} (mL, ${values.length} cases)`);
    out.push(...renderHistogram(values, {bins: Math.min(20, width), width, height: 5}).map((line) => `  ${line}`));
  }
  return out;
}

export function sliceLines(views: SliceView[], opts: ReportOptions): string[] {
  const gap = 2;
  const cols = Math.max(8, Math.floor((opts.columns - gap * (views.length - 1)) / views.length));
  const blocks = views.map((s) => [
    `${s.plane} ${s.index}`,
    ...renderSliceHalfBlocks({
      slice: s.data,
      width: s.width,
      height: s.height,
      aspect: s.pixelAspect,
      label: s.label,
      cols: Math.min(cols, 48, s.width * 4), // tiny volumes are not blown up past 4 columns per voxel
      maxRows: 24,
      color: opts.color,
      palette: opts.palette,
    }),
  ]);
  return sideBySide(blocks, gap);
}

export function reportLines(a: DatasetAnalysis, opts: ReportOptions): string[] {
  const labelNames = Object.entries(a.labels).map(([v, n]) => `${v} ${n}`).join(', ');
  const lines = [
    `${a.name}  (${a.root})`,
    `${a.images} images, ${a.labelFiles} labels, ${a.pairs} pairs${labelNames ? `; labels: ${labelNames}` : ''}`,
    '',
  ];
  if (a.cases.length > 0) lines.push(...caseTable(a), '', ...summaryLines(a), '', ...histogramLines(a, opts.columns));
  const slices = opts.slices ?? {};
  const name = opts.caseName ?? a.cases.find((c) => slices[c.name])?.name;
  const views = name ? slices[name] : undefined;
  if (name && views) {
    const c = a.cases.find((x) => x.name === name)!;
    lines.push('', `Slices through the label centre of ${name} (voxel ${c.centre.join(', ')}); patient right on the left`);
    lines.push(...sliceLines(views, opts));
  }
  if (a.problems.length > 0) {
    lines.push('', `Problems (${a.problems.length}):`, ...a.problems.map((p) => `  ${p.file}: ${p.message}`));
  }
  return lines;
}
