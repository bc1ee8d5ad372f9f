// The worker-thread pool, run from the compiled dist/ (workers need JavaScript); skipped when dist/ is absent or stale.
import {existsSync, mkdtempSync, readdirSync, rmSync, statSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {afterAll, describe, expect, it} from 'vitest';
import {analyzeDataset} from '../src/core/analyze/index.js';
import {imageValues, labelValues, writeCase, writeDatasetJson} from './analyze-fixtures.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distIndex = path.join(repoRoot, 'dist', 'core', 'analyze', 'index.js');
const distWorker = path.join(repoRoot, 'dist', 'core', 'analyze', 'worker.js');

function newestSource(): number {
  const dirs = ['src/core/analyze', 'src/core/nifti', 'src/core/render'].map((d) => path.join(repoRoot, d));
  return Math.max(...dirs.flatMap((d) => readdirSync(d).map((f) => statSync(path.join(d, f)).mtimeMs)));
}

const skipReason = !existsSync(distWorker)
  ? 'dist/ has no compiled worker (run npm run build)'
  : statSync(distWorker).mtimeMs < newestSource() || statSync(distIndex).mtimeMs < newestSource()
    ? 'dist/ is older than the sources (run npm run build)'
    : '';
if (skipReason) console.log(`skipping worker pool tests: ${skipReason}`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'heartseg-workers-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

describe.skipIf(Boolean(skipReason))('worker pool (dist)', () => {
  it('gives the same analysis as in-process reading, in case order, with progress and slices', async () => {
    const root = path.join(tmp, 'ds');
    const names = ['w_000', 'w_001', 'w_002', 'w_003', 'w_004'];
    names.forEach((name, k) => writeCase(root, {name, shape: [6, 5, 4], image: imageValues(120, k), label: labelValues(120, [{value: 1, start: k * 7, count: 10 + k}])}));
    writeDatasetJson(root, names, {'0': 'background', '1': 'atrium'});
    const dist = (await import(pathToFileURL(distIndex).href)) as typeof import('../src/core/analyze/index.js');
    expect(dist.workerFile()).not.toBeNull();
    const seen: string[] = [];
    const threaded = await dist.analyzeDataset(root, {workers: 2, slices: true, onProgress: (_d, _t, item) => item && seen.push(item)});
    const inProcess = await analyzeDataset(root, {inProcess: true, slices: true});
    expect(seen.sort()).toEqual(names);
    expect(threaded.cases).toEqual(inProcess.cases);
    expect(threaded.summary).toEqual(inProcess.summary);
    expect(threaded.cases.map((c) => c.name)).toEqual(names);
    const axial = threaded.slices.w_002.find((s) => s.plane === 'axial')!;
    expect(axial.data).toBeInstanceOf(Float32Array);
    expect(Array.from(axial.data)).toEqual(Array.from(inProcess.slices.w_002.find((s) => s.plane === 'axial')!.data));
  });

  it('reports a case whose file is damaged and finishes the rest', async () => {
    const root = path.join(tmp, 'bad');
    writeCase(root, {name: 'b_000', shape: [4, 4, 4], image: imageValues(64, 0), label: labelValues(64, [{value: 1, start: 0, count: 3}])});
    writeCase(root, {name: 'b_001', shape: [4, 4, 4], image: imageValues(64, 1), label: labelValues(64, [])});
    rmSync(path.join(root, 'labelsTr', 'b_001.nii.gz'));
    const {writeFileSync} = await import('node:fs');
    writeFileSync(path.join(root, 'labelsTr', 'b_001.nii.gz'), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
    const dist = (await import(pathToFileURL(distIndex).href)) as typeof import('../src/core/analyze/index.js');
    const a = await dist.analyzeDataset(root, {workers: 2});
    expect(a.cases.map((c) => c.name)).toEqual(['b_000']);
    expect(a.problems).toHaveLength(1);
    expect(a.problems[0].file).toBe('labelsTr/b_001.nii.gz');
  });
});
