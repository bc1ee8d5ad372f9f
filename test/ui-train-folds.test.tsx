// Train screen of a cross-validation (issue 15): the folds strip, a fresh view per fold, the cv Dice and the
// ensemble's post-processing at the end.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import type {EngineEvent} from '../src/core/events.js';
import {App} from '../src/ui/root.js';
import {FakeCore, t0, trainEvents} from './ui-fake-core.js';
import {until} from './ui-keys.js';

afterEach(() => cleanup());

const fold = (k: number, status: string, dice: number | null = null) =>
  ({v: 1, type: 'fold', time: t0, fold: k, folds: 3, status, run_dir: `/runs/cv/folds/fold-${k}`, val_dice: dice}) as EngineEvent;

describe('Train: cross-validation', () => {
  it('shows the folds strip, the fold in training, then the cv Dice mean ± sd', async () => {
    const core = new FakeCore();
    const configured = core.configure({data: '/data/la', edits: {name: 'cv'}});
    const {lastFrame} = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={{screen: 'train', launch: {mode: 'new', configured}}} />);
    await until(lastFrame, (f) => f.includes('starting the engine'));
    const run = core.lastRun;
    run.push(fold(0, 'started'), ...trainEvents(2).filter((e) => e.type !== 'run_end'), fold(0, 'completed', 0.912), fold(1, 'started'));
    let frame = await until(lastFrame, (f) => f.includes('1 ▶'));
    expect(frame).toMatch(/folds\s+0 ✓ 0\.912 · 1 ▶ · 2/);
    expect(frame).toContain('fold 0/3 completed: validation Dice 0.9120'); // the log
    expect(frame).toMatch(/epoch\s+0\/0/); // fold 1's own progress, from nothing
    run.push(fold(1, 'completed', 0.85), fold(2, 'started'), fold(2, 'completed', 0.8),
      {v: 1, type: 'eval_summary', time: t0, cases: 6, out_dir: '/runs/cv/cv', summary: {'left atrium': {dice: {mean: 0.854, std: 0.041, n: 6}}}, postprocess: ['largest']},
      {v: 1, type: 'run_end', time: t0, status: 'completed', reason: '3 folds cross-validated', exit_code: 0, best_dice: null});
    run.end(0);
    frame = await until(lastFrame, (f) => f.includes('cv Dice'));
    expect(frame).toMatch(/folds\s+0 ✓ 0\.912 · 1 ✓ 0\.850 · 2 ✓ 0\.800 · cv Dice 0\.854 ± 0\.041 over 6 cases/);
    expect(frame).toContain('completed (3 folds cross-validated)');
    expect(frame).toContain("the folds' ensemble post-processes with: largest (chosen on the held-out cases)");
    for (const l of frame.split('\n')) expect([...l].length).toBeLessThanOrEqual(80);
    expect(frame.split('\n').length).toBeLessThanOrEqual(23);
  });
});
