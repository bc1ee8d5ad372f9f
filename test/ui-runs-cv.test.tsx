// A cross-validation parent on the Runs screen through the real core: its folds from their folders (trained, failed,
// not started) and, once cv/ is written, the cross-validated Dice; no "no curves" note for a run that has folds.
import React from 'react';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import {createCore, type Core} from '../src/core/api.js';
import {App} from '../src/ui/root.js';
import {KEY, press, until} from './ui-keys.js';

let tmp: string;
let core: Core;
const line = (type: string, body: object) => JSON.stringify({v: 1, type, time: 1, ...body}) + '\n';

/** Fold k of `dir`: trained (events to a completed run_end, final.pt), or a run that ended `failed`. */
function fold(dir: string, k: number, outcome: 'trained' | 'failed', dice: number) {
  const sub = path.join(dir, 'folds', `fold-${k}`);
  mkdirSync(path.join(sub, 'checkpoints'), {recursive: true});
  const epoch = line('epoch_end', {epoch: 1, epochs: 1, train_loss: 0.5, lr: 1e-3, seconds: 1, memory: {cpu_rss_mb: 1}, val_dice: dice, best_dice: dice});
  const end = outcome === 'trained'
    ? line('checkpoint', {path: path.join(sub, 'checkpoints', 'final.pt'), kind: 'final', epoch: 1, metric: dice}) + line('run_end', {status: 'completed', reason: 'done', exit_code: 0})
    : line('run_end', {status: 'failed', reason: 'engine error', exit_code: 1});
  writeFileSync(path.join(sub, 'events.jsonl'), line('run_start', {command: 'train', run_dir: sub}) + epoch + end);
  if (outcome === 'trained') writeFileSync(path.join(sub, 'checkpoints', 'final.pt'), 'x');
}

function cvParent(name: string, folds: number): string {
  const dir = path.join(tmp, 'runs', name);
  mkdirSync(dir, {recursive: true});
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({data: {root: '/data/la', folds, fold: null}}));
  return dir;
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-runs-cv-'));
  const partial = cvParent('partial', 3);
  fold(partial, 0, 'trained', 0.912);
  fold(partial, 1, 'failed', 0.4);
  const done = cvParent('finished', 2);
  fold(done, 0, 'trained', 0.88);
  fold(done, 1, 'trained', 0.9);
  mkdirSync(path.join(done, 'cv'));
  writeFileSync(path.join(done, 'cv', 'summary.json'), JSON.stringify({folds: 2, cases: 8,
    summary: {'left atrium': {dice: {mean: 0.8771, std: 0.0321, median: 0.88, min: 0.8, max: 0.93, n: 8, n_inf: 0}}}}));
  core = createCore({runsDir: path.join(tmp, 'runs')});
});

afterAll(async () => {
  cleanup();
  await core?.shutdown();
  rmSync(tmp, {recursive: true, force: true});
});

describe('a cross-validation run on the Runs screen (real core)', () => {
  it('readRun gives the folds as fold events (no evaluation of its own yet)', async () => {
    const partial = await core.readRun(path.join(tmp, 'runs', 'partial'));
    expect(partial.events.map((e) => e.type === 'fold' && [e.fold, e.status, e.val_dice])).toEqual([[0, 'completed', 0.912], [1, 'failed', null]]);
    expect(partial.evalEvents).toEqual([]);
    const finished = await core.readRun(path.join(tmp, 'runs', 'finished'));
    expect(finished.events.map((e) => e.type === 'fold' && [e.fold, e.status, e.val_dice])).toEqual([[0, 'completed', 0.88], [1, 'completed', 0.9]]);
    expect(finished.evalEvents).toEqual([]); // the ensemble's evaluation would be RUN/eval/; cv/ is in info.cv
  });

  it('shows each fold, then the cv Dice of a finished one', async () => {
    const app = render(<App core={core} size={{columns: 100, rows: 24}} colour={false} initialRoute={{screen: 'runs'}} />);
    let frame = await until(app.lastFrame, (f) => f.includes('folds ') && f.includes('cross-validation ·'));
    const first = frame.includes('›… partial') ? 'partial' : 'finished'; // newest first: both were written just now
    const expectPartial = (f: string) => {
      expect(f).toContain('partial failed');
      expect(f).toContain('folds  0 ✓ 0.912 · 1 ✗ · 2');
      expect(f).not.toContain('no curves recorded yet');
    };
    const expectFinished = (f: string) => {
      expect(f).toContain('finished completed');
      expect(f).toContain('folds  0 ✓ 0.880 · 1 ✓ 0.900');
      expect(f).toContain('cv Dice 0.8771 ± 0.0321');
    };
    (first === 'partial' ? expectPartial : expectFinished)(frame);
    await press(app.stdin, KEY.down);
    frame = await until(app.lastFrame, (f) => f.includes(first === 'partial' ? 'finished completed' : 'partial failed'));
    (first === 'partial' ? expectFinished : expectPartial)(frame);
  });
});
