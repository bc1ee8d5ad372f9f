// heartseg bench from the front: ratio arithmetic, merging, the table, flag errors, and a --smoke run that
// measures the analyze line here and the data_sampling line in the engine, merged into one results.json.
// Timings are never asserted, only that results are well formed and ratios match their numbers.
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterEach, describe, expect, it} from 'vitest';
import {type BenchRecord, formatTable, mergeResults, median, record, runBench, speedRatio} from '../src/commands/bench.js';
import {resolvePython} from '../src/core/python.js';

const tmps: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'hs-bench-'));
  tmps.push(d);
  return d;
};
afterEach(() => {
  while (tmps.length) rmSync(tmps.pop()!, {recursive: true, force: true});
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {io: {stdout: {write: (t: string) => out.push(t)}, stderr: {write: (t: string) => err.push(t)}}, out, err};
}

describe('speedRatio', () => {
  it.each([
    [100, 10, 'patches/s', 10],
    [5, 10, 'voxels/s', 0.5],
    [2, 6, 's', 3],
    [8, 2, 's', 0.25],
    [null, 2, 's', null],
    [2, null, 'voxels/s', null],
    [0, 2, 's', null],
    [Infinity, 2, 's', null],
  ])('ours %s, baseline %s (%s) -> %s', (ours, baseline, unit, expected) => {
    const got = speedRatio(ours as number | null, baseline as number | null, unit as string);
    if (expected === null) expect(got).toBeNull();
    else expect(got).toBeCloseTo(expected as number, 10);
  });

  it('refuses a unit that is neither a rate nor seconds', () => {
    expect(() => speedRatio(1, 2, 'ms')).toThrow(/unit/);
  });
});

describe('records, merging, table', () => {
  it('rounds numbers and computes the ratio from them', () => {
    const r = record('analyze', 1.23456, 2.46912, 's', 3, 100, 'n');
    expect(r).toMatchObject({name: 'analyze', ours: 1.235, baseline: 2.469, ratio: 2, unit: 's', repeats: 3, peak_rss_mb: 100});
  });

  it('replaces by name, keeps the order, appends new names', () => {
    const a = (name: string, v: number) => ({name, ours: v} as unknown as BenchRecord);
    expect(mergeResults([a('x', 1), a('y', 1)], [a('z', 2), a('x', 2)])).toEqual([a('x', 2), a('y', 1), a('z', 2)]);
  });

  it('prints every line with its ratio or a dash', () => {
    const text = formatTable([record('analyze', 1, 2, 's', 1, 5, 'n'), record('inference', null, null, 's', 0, null, 'skipped: why')]);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^line\s+ours\s+baseline/);
    expect(lines[1]).toContain('2.00x');
    expect(lines[2]).toMatch(/inference\s+-\s+-\s+s\s+-/);
    expect(lines[2]).toContain('skipped: why');
  });

  it.each([[[3, 1, 2], 2], [[4, 1], 2.5], [[7], 7]])('median of %j is %d', (values, expected) => {
    expect(median(values as number[])).toBe(expected);
  });
});

describe('runBench flags', () => {
  it.each([
    [['--lines', 'bogus'], /unknown line "bogus"/],
    [['--skip', 'nope'], /unknown line "nope"/],
    [['--quick', '--smoke'], /exclude each other/],
    [['--frobnicate'], /frobnicate/],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const c = capture();
    expect(await runBench(argv as string[], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(message as RegExp);
  });

  it('--data must be a dataset', async () => {
    const c = capture();
    const dir = tmp();
    expect(await runBench(['--data', dir, '--lines', 'analyze', '--out', path.join(dir, 'r.json')], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/not a Decathlon-style dataset/);
    expect(existsSync(path.join(dir, 'r.json'))).toBe(false);
  });

  it('--help prints the usage', async () => {
    const c = capture();
    expect(await runBench(['--help'], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/Usage: heartseg bench/);
  });
});

describe('runBench --smoke', () => {
  it('measures analyze here and data_sampling in the engine, into one well-formed results.json', async () => {
    let python: string;
    try {
      python = (await resolvePython()).path;
    } catch {
      console.warn('skipped: no Python with torch for the engine');
      return;
    }
    const dir = tmp();
    const out = path.join(dir, 'bench', 'results.json');
    const c = capture();
    const env = {...process.env, HEARTSEG_CACHE: path.join(dir, 'cache'), OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1'};
    const code = await runBench(['--smoke', '--lines', 'data_sampling,analyze', '--out', out, '--python', python], {...c.io, env, cwd: dir});
    expect(code, c.err.join('')).toBe(0);
    const body = JSON.parse(readFileSync(out, 'utf8')) as {machine: Record<string, unknown>; results: BenchRecord[]};
    expect(body.machine.cores).toBeGreaterThanOrEqual(1);
    expect(body.results.map(r => r.name).sort()).toEqual(['analyze', 'data_sampling']);
    for (const r of body.results) {
      for (const key of ['name', 'ours', 'baseline', 'ratio', 'unit', 'repeats', 'peak_rss_mb', 'note']) expect(r).toHaveProperty(key);
      if (r.ratio === null) {
        expect(r.note).toMatch(/^skipped: /);
      } else {
        expect(r.ratio).toBeCloseTo(speedRatio(r.ours, r.baseline, r.unit)!, 2);
        expect(r.repeats).toBeGreaterThanOrEqual(1);
      }
    }
    const table = c.out.join('');
    expect(table).toMatch(/^line\s+ours/);
    expect(table).toContain('analyze');
    expect(table).toContain('data_sampling');
  }, 600_000);
});
