// Dataset discovery, per-case statistics and the summary on tiny hand-built datasets.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {analyzeDataset, discoverDataset, intensityStats, selectRanks} from '../src/core/analyze/index.js';
import {selectRanksFloat32} from '../src/core/analyze/stats.js';
import {imageValues, labelValues, writeCase, writeDatasetJson, type TinyCase} from './analyze-fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'heartseg-analyze-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));
let n = 0;
const freshRoot = () => path.join(tmp, `ds${n++}`);

/** numpy's default percentile: linear interpolation between order statistics. */
function percentile(values: number[], q: number): number {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  return s[lo] + (pos - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]) - s[lo]);
}

const SHAPE: [number, number, number] = [6, 5, 4];
const N = 120;
function tinyCase(k: number, parts: {value: number; start: number; count: number}[]): TinyCase {
  return {name: `tiny_${String(k).padStart(3, '0')}`, shape: SHAPE, image: imageValues(N, k), label: labelValues(N, parts)};
}

describe('selectRanks and intensityStats', () => {
  const tables: [string, number[]][] = [
    ['distinct', Array.from({length: 1000}, (_, i) => Math.sin(i) * 100)],
    ['ties', Array.from({length: 999}, (_, i) => i % 7)],
    ['mostly zeros', Array.from({length: 5000}, (_, i) => (i % 10 === 0 ? i / 7 : 0))],
    ['with NaN and inf', [3, NaN, 1, Infinity, 2, -Infinity, 5, 4]],
    ['one value', [2.5, 2.5, 2.5]],
    ['signs, zeros and tiny values', [-0, 0, -1e-40, 1e-40, -3.5, 3.5, -1e30, 1e30, 7, -7, 0.1, -0.1]],
  ];
  it.each(tables)('%s: ranks equal a sorted copy, percentiles equal numpy-style ones', (_name, values) => {
    const data = Float64Array.from(values);
    const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
    const ranks = [0, 1, Math.floor(sorted.length / 2), sorted.length - 1];
    expect(selectRanks(data, ranks, sorted[0], sorted.at(-1)!)).toEqual(ranks.map((r) => sorted[r]));
    const s = intensityStats(data);
    expect(s.min).toBe(sorted[0]);
    expect(s.max).toBe(sorted.at(-1));
    expect(s.p005).toBeCloseTo(percentile(values, 0.5), 10);
    expect(s.p995).toBeCloseTo(percentile(values, 99.5), 10);
    expect(s.nonFinite).toBe(values.length - sorted.length);
  });
  it.each(tables)('%s as float32: radix selection equals a sorted copy', (_name, values) => {
    const data = Float32Array.from(values);
    const sorted = Array.from(data).filter(Number.isFinite).sort((a, b) => a - b);
    const ranks = [0, 1, Math.floor(sorted.length / 3), Math.floor(sorted.length / 2), sorted.length - 2, sorted.length - 1];
    // == compares -0 and 0 as equal, as a sort does
    selectRanksFloat32(data, ranks).forEach((v, i) => expect(v === sorted[ranks[i]], `rank ${ranks[i]}`).toBe(true));
    expect(intensityStats(data).p995).toBeCloseTo(percentile(Array.from(data), 99.5), 5);
  });
  it('falls back to sorting when one bin holds many distinct values', () => {
    // 300k values packed near 0 and one outlier: the percentile bin is over the gathering cap.
    const data = new Float64Array(300_001);
    for (let i = 0; i < 300_000; i++) data[i] = i * 1e-12;
    data[300_000] = 1e9;
    const s = intensityStats(data);
    expect(s.p005).toBeCloseTo(percentile(Array.from(data), 0.5), 15);
  });
});

describe('discovery', () => {
  it('pairs by case name without dataset.json, stripping _0000, and reports orphans', async () => {
    const root = freshRoot();
    writeCase(root, tinyCase(0, []), {channelSuffix: true});
    writeCase(root, tinyCase(1, []));
    writeFileSync(path.join(root, 'imagesTr', 'lonely_0000.nii.gz'), '');
    writeFileSync(path.join(root, 'labelsTr', 'orphan.nii.gz'), '');
    writeFileSync(path.join(root, 'imagesTr', '._hidden.nii.gz'), '');
    const d = await discoverDataset(root);
    expect(d.pairs.map((p) => [p.name, p.image])).toEqual([['tiny_000', 'imagesTr/tiny_000_0000.nii.gz'], ['tiny_001', 'imagesTr/tiny_001.nii.gz']]);
    expect([d.images, d.labelFiles]).toEqual([3, 3]);
    expect(d.problems.map((p) => p.file).sort()).toEqual(['imagesTr/lonely_0000.nii.gz', 'labelsTr/orphan.nii.gz']);
  });
  it('follows dataset.json, finding _0000 files it lists without the suffix', async () => {
    const root = freshRoot();
    writeCase(root, tinyCase(0, []), {channelSuffix: true});
    writeCase(root, tinyCase(1, []));
    writeDatasetJson(root, ['tiny_000', 'tiny_001', 'tiny_002'], {'0': 'background', '1': 'atrium'}, {numTraining: 5});
    const d = await discoverDataset(root);
    expect(d.name).toBe('Tiny');
    expect(d.labels).toEqual({'0': 'background', '1': 'atrium'});
    expect(d.pairs.map((p) => p.image)).toEqual(['imagesTr/tiny_000_0000.nii.gz', 'imagesTr/tiny_001.nii.gz']);
    expect(d.problems.map((p) => `${p.file}: ${p.message}`)).toEqual([
      'imagesTr/tiny_002.nii.gz: listed in dataset.json but not found',
      'labelsTr/tiny_002.nii.gz: listed in dataset.json but not found',
      'dataset.json: numTraining is 5 but the training list has 3 entries',
    ]);
  });
  it('reads nnU-Net v2 labels (name -> value)', async () => {
    const root = freshRoot();
    writeCase(root, tinyCase(0, []));
    writeFileSync(path.join(root, 'dataset.json'), JSON.stringify({labels: {background: 0, atrium: 1}, file_ending: '.nii.gz'}));
    const d = await discoverDataset(root);
    expect(d.labels).toEqual({'0': 'background', '1': 'atrium'});
    expect(d.pairs).toHaveLength(1);
  });
  it('a missing folder is one problem, not an exception', async () => {
    const d = await discoverDataset(path.join(tmp, 'nowhere'));
    expect(d.problems).toEqual([{file: '.', message: 'no such directory'}]);
  });
});

describe('analyzeDataset (in process)', () => {
  it('computes per-case statistics and the summary', async () => {
    const root = freshRoot();
    const cases = [
      tinyCase(0, [{value: 1, start: 10, count: 30}]),
      tinyCase(1, [{value: 1, start: 0, count: 12}, {value: 2, start: 100, count: 5}]),
      {...tinyCase(2, [{value: 1, start: 60, count: 20}]), spacing: [1, 2, 1] as [number, number, number]},
    ];
    for (const c of cases) writeCase(root, c);
    writeDatasetJson(root, cases.map((c) => c.name), {'0': 'background', '1': 'atrium', '2': 'vein'});
    const progress: number[] = [];
    const a = await analyzeDataset(root, {inProcess: true, onProgress: (done) => progress.push(done)});
    expect(a.problems).toEqual([]);
    expect([a.pairs, a.images, a.labelFiles, a.cases.length]).toEqual([3, 3, 3, 3]);
    expect(progress).toEqual([0, 1, 2, 3]);

    const c0 = a.cases[0];
    const img0 = cases[0].image.map(Math.fround);
    expect(c0.shape).toEqual(SHAPE);
    expect(c0.spacing).toEqual([1, 2, 0.5]);
    expect(c0.orientation).toBe('RAS');
    expect(c0.intensity.min).toBe(Math.min(...img0));
    expect(c0.intensity.max).toBe(Math.max(...img0));
    expect(c0.intensity.mean).toBeCloseTo(img0.reduce((s, v) => s + v, 0) / N, 10);
    expect(c0.intensity.p005).toBeCloseTo(percentile(img0, 0.5), 6);
    expect(c0.intensity.p995).toBeCloseTo(percentile(img0, 99.5), 6);
    // 30 voxels of 1 mm x 2 mm x 0.5 mm = 30 mm^3 = 0.03 mL
    expect(c0.labelVolumes).toEqual({'0': {voxels: 90, ml: 0.09}, '1': {voxels: 30, ml: 0.03}});
    // voxels 10..39 in a 6x5 plane: x mean 2.5 (all x equally), y mean (10..39 -> rows) , z mean
    const idx = Array.from({length: 30}, (_, i) => 10 + i);
    const mean = (f: (i: number) => number) => Math.round(idx.reduce((s, i) => s + f(i), 0) / idx.length);
    expect(c0.centre).toEqual([mean((i) => i % 6), mean((i) => Math.floor(i / 6) % 5), mean((i) => Math.floor(i / 30))]);
    expect(a.cases[1].labelVolumes['2']).toEqual({voxels: 5, ml: 0.005});
    expect(a.cases[2].labelVolumes['1'].ml).toBeCloseTo(0.04, 12);

    const s = a.summary;
    expect(s.medianSpacing).toEqual([1, 2, 0.5]);
    expect([s.shapeMin, s.shapeMax]).toEqual([SHAPE, SHAPE]);
    expect(s.labelVolumes['1']).toMatchObject({name: 'atrium', cases: 3, minVoxels: 12, maxVoxels: 30, meanVoxels: (30 + 12 + 20) / 3});
    expect(s.labelVolumes['2']).toMatchObject({name: 'vein', cases: 1, minVoxels: 0, maxVoxels: 5});
    expect(s.classBalance['1']).toBeCloseTo(62 / 360, 12);
    expect(s.classBalance['2']).toBeCloseTo(5 / 360, 12);
  });

  it('lists every problem together and keeps going past bad files', async () => {
    const root = freshRoot();
    const good = tinyCase(0, [{value: 1, start: 0, count: 4}]);
    writeCase(root, good);
    writeCase(root, {...tinyCase(1, []), labelShape: [6, 5, 3], label: new Array(90).fill(0)});
    writeCase(root, tinyCase(2, [{value: 3, start: 0, count: 2}]));
    writeCase(root, tinyCase(3, []));
    writeFileSync(path.join(root, 'imagesTr', 'tiny_003.nii.gz'), 'not an image');
    writeDatasetJson(root, ['tiny_000', 'tiny_001', 'tiny_002', 'tiny_003'], {'0': 'background', '1': 'atrium'});
    const a = await analyzeDataset(root, {inProcess: true});
    expect(a.cases.map((c) => c.name)).toEqual(['tiny_000', 'tiny_002']);
    const problems = a.problems.map((p) => `${p.file}: ${p.message}`);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toBe('labelsTr/tiny_001.nii.gz: label shape 6x5x3 differs from image shape 6x5x4');
    expect(problems[1]).toBe('labelsTr/tiny_002.nii.gz: label values 3 are not in dataset.json labels');
    expect(problems[2]).toMatch(/^imagesTr\/tiny_003\.nii\.gz: not a NIfTI file/);
  });
});
