// The plain lines and the --json document of a finished job: where it wrote, infinite distances spelled out.
import {describe, expect, it} from 'vitest';
import type {JobResult} from '../src/core/app/types.js';
import type {EngineEvent} from '../src/core/events.js';
import {HeadlessReporter} from '../src/core/headless.js';

function reporter(json: boolean) {
  const out: string[] = [];
  const doc: string[] = [];
  const r = new HeadlessReporter({command: 'predict', out: {write: (s: string) => out.push(s)}, json: json ? {write: (s: string) => doc.push(s)} : undefined,
    now: () => 0});
  return {r, lines: () => out.join('').trimEnd().split('\n'), doc: () => doc.join('')};
}

const predicted: JobResult = {exitCode: 0, status: 'completed', problems: [],
  paths: {outDir: '/data/pred', logFile: '/data/pred/heartseg-predict.log', files: ['/data/pred/case_1.nii.gz']}};

describe('predict names where it wrote', () => {
  it.each([
    [predicted, 'predict done in 0s; wrote /data/pred/case_1.nii.gz'],
    [{...predicted, paths: {...predicted.paths, files: ['/data/pred/a.nii.gz', '/data/pred/b.nii']}}, 'predict done in 0s; wrote 2 files in /data/pred'],
  ])('last line of %#', (result, last) => {
    const {r, lines} = reporter(false);
    r.finish(result);
    expect(lines().at(-1)).toBe(last);
  });

  it('--json: one document with out_dir and the absolute files, snake_case keys', () => {
    const {r, doc} = reporter(true);
    r.finish(predicted);
    const parsed = JSON.parse(doc()) as Record<string, unknown>;
    expect(doc().trim().split('\n')).toHaveLength(1);
    expect(parsed).toMatchObject({command: 'predict', status: 'completed', exit_code: 0, out_dir: '/data/pred', files: ['/data/pred/case_1.nii.gz']});
    for (const key of Object.keys(parsed)) expect(key).toMatch(/^[a-z0-9_]+$/);
  });
});

describe('infinite distances read as such, never "Infinity ± NaN"', () => {
  const summary = (hd95: Record<string, number | 'inf' | null>): EngineEvent => ({v: 1, type: 'eval_summary', time: 1, cases: 2, out_dir: '/r/eval',
    summary: {'1': {dice: {mean: 0.5, std: 0.1, n: 2, n_inf: 0}, hd95}}});
  it.each([
    [{mean: 'inf', std: null, n: 2, n_inf: 1}, 'hd95 inf (1 of 2 cases inf)'],
    [{mean: 'inf', std: null, n: 1, n_inf: 1}, 'hd95 inf (1 of 1 cases inf)'],
    [{mean: 3.25, std: 0.5, n: 2, n_inf: 0}, 'hd95 3.250 ± 0.500'],
    [{mean: 3.25, std: null, n: 1, n_inf: 1}, 'hd95 3.250 (1 inf left out)'],
  ] as const)('%j -> %s', (hd95, text) => {
    const {r, lines} = reporter(false);
    r.onEvent(summary(hd95));
    const shown = lines().join('\n');
    expect(shown).toContain(text);
    expect(shown).toContain('dice 0.500 ± 0.100');
    expect(shown).not.toMatch(/Infinity|NaN/);
  });
});
