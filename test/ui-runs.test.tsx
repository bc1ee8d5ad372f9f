// Runs screen: every run kind, curves from events or TensorBoard scalars, checkpoints, and the actions.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import type {RunDetail, Scalars} from '../src/core/api.js';
import {App} from '../src/ui/root.js';
import {FakeCore, runInfo, t0, trainEvents} from './ui-fake-core.js';
import {KEY, press, until} from './ui-keys.js';

afterEach(() => cleanup());

/** 17 epochs shaped like the seed TensorBoard fixture (Loss/Train, Loss/Val, LR at steps 0..16). */
function seedLikeScalars(): Scalars {
  const steps = Array.from({length: 17}, (_, i) => i);
  return {
    'Loss/Train': steps.map((s) => [s, 0.9463 - (s * (0.9463 - 0.9371)) / 16]),
    'Loss/Val': steps.map((s) => [s, 0.9725 - (s * (0.9725 - 0.969)) / 16]),
    LR: steps.map((s) => [s, 1e-4]),
  };
}

function runs(): RunDetail[] {
  return [
    {info: runInfo({name: 'demo', epoch: 4, epochs: 4, bestDice: 0.66, checkpoints: ['/runs/demo/checkpoints/best.pt', '/runs/demo/checkpoints/last.pt']}), events: trainEvents(4), evalEvents: [], scalars: null},
    {info: runInfo({name: 'stopped', status: 'interrupted', epoch: 2, epochs: 10, checkpoints: ['/runs/stopped/checkpoints/last.pt']}), events: trainEvents(2, '/runs/stopped'), evalEvents: [], scalars: null},
    {info: runInfo({name: 'live', status: 'running', epoch: 1, epochs: 50}), events: trainEvents(1, '/runs/live'), evalEvents: [], scalars: null},
    {info: runInfo({name: 'seed_run_tensorboard', status: 'tensorboard', dataRoot: null}), events: [], evalEvents: [], scalars: seedLikeScalars()},
  ];
}

function mount(core = new FakeCore({runs: runs()})) {
  const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={{screen: 'runs'}} />);
  return {...app, core};
}

describe('Runs', () => {
  it('lists every run with its status, epochs and Dice, and charts the selected one', async () => {
    const {lastFrame} = mount();
    const frame = await until(lastFrame, (f) => f.includes('seed_run_tens') && f.includes('val Dice'));
    expect(frame).toMatch(/›✓ demo\s+4\/4\s+0\.660/); // selected
    expect(frame).toMatch(/‖ stopped\s+2\/10/);
    expect(frame).toMatch(/▶ live\s+1\/50/);
    expect(frame).toContain('≈ seed_run_tens');
    expect(frame).toContain('loss 1…4');
    expect(frame).toMatch(/[\u2801-\u28ff]/);
    expect(frame).toMatch(/checkpoints:\s*\n\s+best\.pt/);
  });

  it('charts the 17 epochs of Loss/Train and Loss/Val of a TensorBoard-only folder', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, (f) => f.includes('val Dice'));
    await press(stdin, KEY.down, KEY.down, KEY.down);
    const frame = await until(lastFrame, (f) => f.includes('TensorBoard log'));
    expect(frame).toContain('TensorBoard log · 17 steps · LR, Loss/Train');
    expect(frame).toContain('›≈ seed_run_tens');
    expect(frame).toContain('Loss 0…16 ━Train ·Val');
    expect(frame).toContain('0.973'); // the top of the loss axis: the first validation loss
    expect(frame).toContain('0.937'); // the bottom: the last training loss
  });

  it('i inspects the checkpoints in turn', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, (f) => f.includes('val Dice'));
    await press(stdin, 'i');
    const frame = await until(lastFrame, (f) => f.includes('353,949 parameters'));
    expect(frame).toContain('features 4,8,16,32');
    await press(stdin, 'i');
    await until(() => core.inspected.length, (n) => n === 2);
    expect(core.inspected).toEqual(['/runs/demo/checkpoints/best.pt', '/runs/demo/checkpoints/last.pt']);
  });

  it('r resumes an interrupted run, w watches a running one, e evaluates', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, (f) => f.includes('val Dice'));
    await press(stdin, KEY.down, 'r');
    // The same changes `train --resume RUN --epochs 12` takes, typed as KEY=VALUE (flag names or config keys).
    await until(lastFrame, (f) => f.includes('resume; changes'));
    await press(stdin, ...'epochs=12'.split(''), KEY.enter);
    await until(lastFrame, (f) => f.includes('heartseg › train'));
    await until(() => core.started.length, (n) => n === 1);
    expect(core.lastRun.args).toEqual({run: '/runs/stopped', edits: {'train.epochs': 12}});
    // The resumed run shows the epochs it already had.
    await until(lastFrame, (f) => f.includes('epoch 2/2 loss'));
    core.lastRun.end(0);
    await until(lastFrame, (f) => f.includes('engine exited with code 0'));
    await press(stdin, KEY.escape);
    await until(lastFrame, (f) => f.includes('›‖ stopped')); // back on the run we left from
    await press(stdin, KEY.down, 'w');
    await until(() => core.started.length, (n) => n === 2);
    expect(core.lastRun.kind).toBe('watch');
    expect(core.lastRun.runDir).toBe('/runs/live');
    core.lastRun.end(0);
    await until(lastFrame, (f) => f.includes('engine exited with code 0'));
    await press(stdin, KEY.escape);
    await until(lastFrame, (f) => f.includes('›▶ live'));
    await press(stdin, KEY.up, KEY.up, 'e');
    await until(() => core.started.length, (n) => n === 3);
    expect(core.lastRun.kind).toBe('evaluate');
    expect(core.lastRun.args).toEqual({model: {kind: 'run', runDir: '/runs/demo'}, data: '/data/la'});
  });

  it('explains why an action does not apply', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, (f) => f.includes('val Dice'));
    await press(stdin, KEY.down, KEY.down, KEY.down, 'r');
    await until(lastFrame, (f) => f.includes('a TensorBoard-only folder cannot be resumed'));
    await press(stdin, 'e');
    await until(lastFrame, (f) => f.includes('no checkpoint to evaluate'));
    await press(stdin, KEY.up, 'r');
    await until(lastFrame, (f) => f.includes('still running: press w to watch it'));
    expect(core.started).toHaveLength(0);
  });

  it('p predicts with the run into a folder of its own in the runs folder (nothing is written into the run)', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, (f) => f.includes('val Dice'));
    await press(stdin, 'p');
    await until(lastFrame, (f) => f.includes('predict which image file or folder?'));
    await press(stdin, ...'/data/new'.split(''), KEY.enter);
    await until(() => core.started.length, (n) => n === 1);
    expect(core.lastRun.args).toMatchObject({model: {kind: 'run', runDir: '/runs/demo'}, inputs: ['/data/new']});
    expect(core.lastRun.outDir).toMatch(/^\/runs\/predict-demo-\d{8}-\d{6}$/);
    core.lastRun.push({v: 1, type: 'progress', time: t0, stage: 'predict', done: 1, total: 2, item: 'x.nii.gz'});
    await until(lastFrame, (f) => f.includes('predict 1/2 x.nii.gz'));
    core.lastRun.push({v: 1, type: 'run_end', time: t0 + 1, status: 'completed', reason: 'done', exit_code: 0});
    core.lastRun.end(0);
    await until(lastFrame, (f) => f.includes(`predict completed · wrote ${core.lastRun.outDir}`));
  });
});
