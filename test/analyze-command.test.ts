// `heartseg analyze` handler: JSON, the terminal report with and without colour, figures, problems and usage.
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {PNG} from 'pngjs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {runAnalyze} from '../src/commands/analyze.js';
import {imageValues, labelValues, writeCase, writeDatasetJson} from './analyze-fixtures.js';

function capture(isTTY = false, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => err.push(s)}, isTTY, env, columns: 90},
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'heartseg-analyze-cmd-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));
const good = path.join(tmp, 'good');
const bad = path.join(tmp, 'bad');

beforeAll(() => {
  const names = ['c_000', 'c_001', 'c_002'];
  names.forEach((name, k) =>
    writeCase(good, {name, shape: [12, 10, 8], image: imageValues(960, k), label: labelValues(960, [{value: 1, start: 300 + k * 20, count: 200 + 50 * k}])}),
  );
  writeDatasetJson(good, names, {'0': 'background', '1': 'atrium'});
  writeCase(bad, {name: 'd_000', shape: [4, 4, 4], image: imageValues(64, 0), label: labelValues(64, [{value: 1, start: 0, count: 8}])});
  writeCase(bad, {name: 'd_001', shape: [4, 4, 4], image: imageValues(64, 1), label: labelValues(64, [])});
  writeFileSync(path.join(bad, 'imagesTr', 'd_001.nii.gz'), Buffer.alloc(10));
  writeFileSync(path.join(bad, 'labelsTr', 'd_009.nii.gz'), Buffer.alloc(10));
});

describe('analyze --json', () => {
  it('prints one JSON object with cases and summary, exit 0', async () => {
    const c = capture();
    expect(await runAnalyze([good, '--json', '--workers', '1'], c.io)).toBe(0);
    const a = JSON.parse(c.stdout());
    expect(a.pairs).toBe(3);
    expect(a.cases.map((x: {name: string}) => x.name)).toEqual(['c_000', 'c_001', 'c_002']);
    expect(a.cases.map((x: {label_volumes: {'1': {voxels: number}}}) => x.label_volumes['1'].voxels)).toEqual([200, 250, 300]);
    expect(a.summary.median_spacing).toEqual([1, 2, 0.5]);
    expect(a).not.toHaveProperty('slices');
    expect(c.stderr()).toBe('');
  });
  it('lists all problems in the JSON and on stderr, analyses the rest, exit 2', async () => {
    const c = capture();
    expect(await runAnalyze([bad, '--json'], c.io)).toBe(2);
    const a = JSON.parse(c.stdout());
    expect(a.cases.map((x: {name: string}) => x.name)).toEqual(['d_000']);
    expect(a.problems.map((p: {file: string}) => p.file).sort()).toEqual(['imagesTr/d_001.nii.gz', 'labelsTr/d_009.nii.gz']);
    expect(c.stderr().trim().split('\n')).toHaveLength(2);
    expect(c.stderr()).toContain(`heartseg analyze: ${path.join(bad, 'labelsTr/d_009.nii.gz')}: no image for case d_009`);
  });
});

describe('analyze report', () => {
  it('plain off a terminal: tables, summary, histogram, slices, and no escape codes', async () => {
    const c = capture(false);
    expect(await runAnalyze([good], c.io)).toBe(0);
    const text = c.stdout();
    expect(text).not.toContain('\x1b');
    expect(text).toContain('3 images, 3 labels, 3 pairs; labels: 0 background, 1 atrium');
    expect(text).toMatch(/c_001\s+8x10x12\s+0\.5x2x1\s+RAS/);
    expect(text).toContain('median spacing  z,y,x 0.5 x 2 x 1 mm');
    expect(text).toContain('Label volume histogram: atrium');
    expect(text).toMatch(/axial \d+\s+sagittal \d+\s+coronal \d+/);
    expect(text).toContain('#'); // the label shows in the plain slices
  });
  it('colour half-blocks on a terminal; none with NO_COLOR or --no-color', async () => {
    const tty = capture(true);
    await runAnalyze([good], tty.io);
    expect(tty.stdout()).toMatch(/\x1b\[38;(2|5);[\d;]+m\x1b\[48;(2|5);[\d;]+m\u2580/);
    for (const [args, env] of [[[good], {NO_COLOR: '1'}], [[good, '--no-color'], {}]] as const) {
      const c = capture(true, env);
      await runAnalyze([...args], c.io);
      expect(c.stdout()).not.toContain('\x1b');
    }
  });
  it('--case picks the case drawn; an unknown one is a problem', async () => {
    const c = capture();
    await runAnalyze([good, '--case', 'c_002'], c.io);
    expect(c.stdout()).toContain('label centre of c_002');
    const u = capture();
    expect(await runAnalyze([good, '--case', 'nope'], u.io)).toBe(2);
    expect(u.stdout()).toContain('nope: --case names no analysed case');
  });
  it('problems are listed in the report, exit 2', async () => {
    const c = capture();
    expect(await runAnalyze([bad], c.io)).toBe(2);
    const listed = c.stdout().split('Problems (2):\n')[1].trim().split('\n').map((l) => l.trim()).sort();
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatch(/^imagesTr\/d_001\.nii\.gz: not a NIfTI file/);
    expect(listed[1]).toBe('labelsTr/d_009.nii.gz: no image for case d_009 in imagesTr');
  });
});

describe('analyze --figures', () => {
  it('writes three decodable, non-blank slice PNGs per case and a histogram', async () => {
    const dir = path.join(tmp, 'figs');
    const c = capture();
    expect(await runAnalyze([good, '--json', '--figures', dir], c.io)).toBe(0);
    const files = readdirSync(dir).sort();
    expect(files).toEqual([
      'c_000_axial.png', 'c_000_coronal.png', 'c_000_sagittal.png',
      'c_001_axial.png', 'c_001_coronal.png', 'c_001_sagittal.png',
      'c_002_axial.png', 'c_002_coronal.png', 'c_002_sagittal.png',
      'label_volumes.png',
    ]);
    expect(JSON.parse(c.stdout()).figures).toHaveLength(10);
    for (const f of files) {
      const png = PNG.sync.read(readFileSync(path.join(dir, f)));
      const values = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) values.add(png.data[i] * 65536 + png.data[i + 1] * 256 + png.data[i + 2]);
      expect(values.size, f).toBeGreaterThan(2);
    }
    // Coronal of a 12x10x8 volume at 1 x 2 x 0.5 mm: 12 mm wide, 4 mm tall.
    const coronal = PNG.sync.read(readFileSync(path.join(dir, 'c_000_coronal.png')));
    expect(coronal.height / coronal.width).toBeCloseTo(4 / 12, 2);
    expect(existsSync(path.join(dir, `.c_000_axial.png.${process.pid}.tmp`))).toBe(false);
  });
});

describe('analyze usage', () => {
  it.each([
    [[], /missing DATA/],
    [['a', 'b'], /one DATA folder only/],
    [['x', '--workers', '0'], /--workers must be a positive integer/],
    [['x', '--bogus'], /bogus/],
  ])('%j -> exit 2', async (args, message) => {
    const c = capture();
    expect(await runAnalyze(args as string[], c.io)).toBe(2);
    expect(c.stderr()).toMatch(message);
  });
  it('--help exits 0', async () => {
    const c = capture();
    expect(await runAnalyze(['--help'], c.io)).toBe(0);
    expect(c.stdout()).toMatch(/^Usage: heartseg analyze DATA/);
  });
  it('a missing folder is a problem, exit 2', async () => {
    const c = capture();
    expect(await runAnalyze([path.join(tmp, 'none')], c.io)).toBe(2);
    expect(c.stdout()).toContain('.: no such directory');
  });
});
