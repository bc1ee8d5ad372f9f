// Dataset-level summary of per-case analyses: spacing, shapes, label volumes and class balance.
import type {CaseAnalysis, DatasetSummary, LabelSummary} from './types.js';

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarise(cases: CaseAnalysis[], labels: Record<string, string>): DatasetSummary {
  const axes = [0, 1, 2];
  const shapes = cases.map((c) => axes.map((a) => c.shape[a] ?? 1));
  const orientations: Record<string, number> = {};
  for (const c of cases) orientations[c.orientation] = (orientations[c.orientation] ?? 0) + 1;

  const values = new Set<string>();
  for (const c of cases) for (const v of Object.keys(c.labelVolumes)) values.add(v);
  // Labels named in dataset.json count even when a case has none of them (volume 0).
  for (const v of Object.keys(labels)) values.add(v);
  const sorted = [...values].sort((a, b) => Number(a) - Number(b));

  const labelVolumes: Record<string, LabelSummary> = {};
  for (const v of sorted) {
    if (Number(v) === 0) continue;
    const ml = cases.map((c) => c.labelVolumes[v]?.ml ?? 0);
    const vox = cases.map((c) => c.labelVolumes[v]?.voxels ?? 0);
    labelVolumes[v] = {
      name: labels[v] ?? `label ${v}`,
      cases: vox.filter((n) => n > 0).length,
      meanMl: ml.length ? ml.reduce((a, b) => a + b, 0) / ml.length : NaN,
      minMl: ml.length ? Math.min(...ml) : NaN,
      maxMl: ml.length ? Math.max(...ml) : NaN,
      meanVoxels: vox.length ? vox.reduce((a, b) => a + b, 0) / vox.length : NaN,
      minVoxels: vox.length ? Math.min(...vox) : NaN,
      maxVoxels: vox.length ? Math.max(...vox) : NaN,
    };
  }
  const total = cases.reduce((sum, c) => sum + Object.values(c.labelVolumes).reduce((a, l) => a + l.voxels, 0), 0);
  const classBalance: Record<string, number> = {};
  for (const v of sorted) classBalance[v] = total > 0 ? cases.reduce((a, c) => a + (c.labelVolumes[v]?.voxels ?? 0), 0) / total : NaN;

  const finiteMeans = cases.map((c) => c.intensity.mean).filter(Number.isFinite);
  return {
    cases: cases.length,
    medianSpacing: axes.map((a) => median(cases.map((c) => c.spacing[a]))),
    shapeMin: axes.map((a) => (shapes.length ? Math.min(...shapes.map((s) => s[a])) : NaN)),
    shapeMax: axes.map((a) => (shapes.length ? Math.max(...shapes.map((s) => s[a])) : NaN)),
    orientations,
    intensity: {
      min: cases.length ? Math.min(...cases.map((c) => c.intensity.min)) : NaN,
      max: cases.length ? Math.max(...cases.map((c) => c.intensity.max)) : NaN,
      meanOfMeans: finiteMeans.length ? finiteMeans.reduce((a, b) => a + b, 0) / finiteMeans.length : NaN,
    },
    labelVolumes,
    classBalance,
  };
}
