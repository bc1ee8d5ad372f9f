// analyze on the real la2018 dataset, checked against the engine's own (nibabel) analysis of the same files.
import {existsSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {execa} from 'execa';
import {beforeAll, describe, expect, it} from 'vitest';
import {analyzeDataset, type CaseAnalysis, type DatasetAnalysis} from '../src/core/analyze/index.js';
import {resolvePython} from '../src/core/python.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const la2018 = path.resolve(repoRoot, '..', 'shared', 'data', 'la2018');
const haveData = existsSync(path.join(la2018, 'dataset.json'));
if (!haveData) console.log(`skipping la2018 analysis tests: ${la2018} is absent`);

// The interpreter the CLI would use (flag, $HEARTSEG_PYTHON, the setup venv, python3).
const python = await resolvePython().then((r) => r.path).catch(() => 'python3');

async function engineAnalysis(): Promise<{skip: string} | {result: {cases: Partial<CaseAnalysis>[]}}> {
  const probe = await execa(python, ['-c', 'import nibabel, numpy'], {reject: false});
  if (probe.exitCode !== 0) return {skip: `no Python with nibabel at ${python}`};
  const run = await execa(python, ['-m', 'heartseg', 'analyze', la2018, '--json'], {
    cwd: path.join(repoRoot, 'py'),
    env: {PYTHONPATH: path.join(repoRoot, 'py'), OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1'},
    reject: false,
  });
  if (run.exitCode !== 0 && /not implemented/.test(`${run.stdout}${run.stderr}`)) return {skip: 'the engine has no analyze command yet'};
  expect(run.exitCode, run.stderr).toBe(0);
  return {result: JSON.parse(run.stdout)};
}

describe.skipIf(!haveData)('analyze la2018', () => {
  let ours: DatasetAnalysis;
  beforeAll(async () => {
    ours = await analyzeDataset(la2018, {inProcess: true});
  });

  it('finds 20 pairs at 0.625 mm with no problems', () => {
    expect(ours.problems).toEqual([]);
    expect([ours.pairs, ours.images, ours.labelFiles, ours.cases.length]).toEqual([20, 20, 20, 20]);
    expect(ours.summary.medianSpacing).toEqual([0.625, 0.625, 0.625]);
    for (const c of ours.cases) expect(c.spacing).toEqual([0.625, 0.625, 0.625]);
    expect(ours.labels).toEqual({'0': 'background', '1': 'left atrium'});
    // The atrium fills roughly 4-19 % of each volume (data README).
    for (const c of ours.cases) expect(c.foreground.fraction).toBeGreaterThan(0.03);
  });

  it('agrees with the engine: label voxel counts exactly, the rest to float tolerance', async (ctx) => {
    const engine = await engineAnalysis();
    if ('skip' in engine) {
      console.log(`skipping engine comparison: ${engine.skip}`);
      ctx.skip();
      return;
    }
    const theirs = new Map(engine.result.cases.map((c) => [c.name, c]));
    expect([...theirs.keys()].sort()).toEqual(ours.cases.map((c) => c.name).sort());
    for (const c of ours.cases) {
      const e = theirs.get(c.name)!;
      const voxels = (v: Record<string, {voxels: number}> | undefined) => Object.fromEntries(Object.entries(v ?? {}).map(([k, x]) => [k, x.voxels]));
      expect(voxels(c.labelVolumes), c.name).toEqual(voxels(e.labelVolumes));
      expect(c.shape).toEqual(e.shape);
      expect(c.spacing).toEqual(e.spacing);
      expect(c.orientation).toBe(e.orientation);
      expect(c.centre).toEqual(e.centre);
      expect(c.foreground.voxels).toBe(e.foreground!.voxels);
      for (const k of ['min', 'max', 'mean', 'p005', 'p995'] as const) {
        expect(Math.abs(c.intensity[k] - e.intensity![k]), `${c.name} ${k}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(e.intensity![k])));
      }
      for (const [k, v] of Object.entries(c.labelVolumes)) expect(v.ml).toBeCloseTo(e.labelVolumes![k].ml, 9);
    }
  });
});
