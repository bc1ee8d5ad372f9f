// A dataset analysis (core/analyze) as the Dataset screen shows it: per-case rows, summary lines, problems.
import type {DatasetReport} from './types.js';
import type {DatasetAnalysis} from '../analyze/index.js';
import {commonOrientation} from '../analyze/report.js';
import {toZyx} from '../format.js';

const num = (v: number, digits = 2) => String(+v.toFixed(digits));

export function datasetReport(a: DatasetAnalysis): DatasetReport {
  const s = a.summary;
  const labels = Object.entries(s.labelVolumes)
    .map(([value, l]) => `${l.name || `label ${value}`}: mean ${num(l.meanMl, 1)} mL (${num(l.minMl, 1)}-${num(l.maxMl, 1)})`)
    .join(' · ');
  const foreground = Object.entries(s.classBalance)
    .filter(([value]) => value !== '0')
    .reduce((sum, [, share]) => sum + share, 0);
  const orientations = Object.entries(s.orientations).map(([o, n]) => `${o} ${n}`).join(', ');
  const usual = commonOrientation(a);
  const summary = [
    `${a.pairs} pairs of ${a.images} images and ${a.labelFiles} labels · median spacing z,y,x ${toZyx(s.medianSpacing, usual).map((v) => num(v, 3)).join(' x ')} mm`,
    `shapes z,y,x ${toZyx(s.shapeMin, usual).join('x')} to ${toZyx(s.shapeMax, usual).join('x')} · orientation ${orientations || '-'} · foreground ${num(foreground * 100, 1)} %`,
  ];
  if (labels) summary.push(labels);
  return {
    root: a.root,
    name: a.name,
    cases: a.cases.map((c) => ({
      name: c.name,
      shape: toZyx(c.shape.slice(0, 3), c.orientation),
      spacing: toZyx(c.spacing.slice(0, 3), c.orientation),
      orientation: c.orientation,
      min: c.intensity.min,
      max: c.intensity.max,
      labelMl: c.foreground.ml,
    })),
    summary,
    problems: a.problems.map((p) => `${p.file}: ${p.message}`),
  };
}
