// The UI on the real core: the seed TensorBoard run through pythonia/tbread, and a synthetic dataset through the
// front's NIfTI reader and renderer. Skips with a reason without ../shared or a Python that has the engine's packages.
import React from 'react';
import {cpSync, existsSync, mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import {createCore, type Core} from '../src/core/api.js';
import {engineEnv, resolvePython} from '../src/core/python.js';
import {App} from '../src/ui/root.js';
import {KEY, press, until} from './ui-keys.js';

const repo = path.resolve(__dirname, '..');
const fixture = path.resolve(repo, '..', 'shared', 'fixtures', 'seed_run_tensorboard');
const python = await resolvePython({probePath: true}).then((p) => p.path, () => null);
const skip = !existsSync(fixture) ? 'needs ../shared/fixtures/seed_run_tensorboard' : !python ? 'needs a Python with the engine packages (heartseg setup or HEARTSEG_PYTHON)' : null;

describe.skipIf(skip)(`UI on the real core${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let tmp: string;
  let core: Core;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'heartseg-ui-real-'));
    cpSync(fixture, path.join(tmp, 'runs', 'seed_run_tensorboard'), {recursive: true});
    const env = {...engineEnv(process.env), OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1'};
    await execa(python!, ['-m', 'heartseg', 'synth', path.join(tmp, 'data'), '--cases', '3', '--seed', '3', '--shape', '16', '24', '24'], {env});
    core = createCore({runsDir: path.join(tmp, 'runs'), data: path.join(tmp, 'data')});
  });

  afterAll(async () => {
    cleanup();
    await core?.shutdown();
    if (tmp) rmSync(tmp, {recursive: true, force: true});
  });

  it('charts the 17 epochs of Loss/Train and Loss/Val of the seed TensorBoard run', async () => {
    const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={{screen: 'runs'}} />);
    const frame = await until(app.lastFrame, (f) => f.includes('TensorBoard log · 17 steps'), 120_000);
    expect(frame).toContain('≈ seed_run_tens');
    expect(frame).toContain('Loss 0…16 ━Train ·Val');
    expect(frame).toMatch(/[\u2801-\u28ff]/);
    // The loss axis spans both curves as TensorBoard's reader returns them.
    const {scalars} = await core.readRun(path.join(tmp, 'runs', 'seed_run_tensorboard'));
    expect(scalars!['Loss/Train'].map(([step]) => step)).toEqual([...Array(17).keys()]);
    expect(scalars!['Loss/Val']).toHaveLength(17);
    const losses = [...scalars!['Loss/Train'], ...scalars!['Loss/Val']].map(([, v]) => v);
    expect(frame).toContain(`${Math.max(...losses).toFixed(3)}│`);
    expect(frame).toContain(`${Math.min(...losses).toFixed(3)}│`);
  });

  it('analyses a synthetic dataset and draws its slices with the label overlay', async () => {
    const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={{screen: 'dataset'}} />);
    const frame = await until(app.lastFrame, (f) => f.includes('axial') && f.includes('label on'), 60_000);
    expect(frame).toContain('3 pairs of 3 images and 3 labels');
    expect(frame).toMatch(/ case\s+z,y,x\s+mm z,y,x/); // one axis order, labelled
    expect(frame.match(/synth_00\d\s+16x24x24/g)?.length).toBe(3);
    const sliceArea = (f: string) => f.split('\n').slice(5).map((l) => l.slice(46)).join('\n');
    expect(sliceArea(frame)).toContain('#'); // the label, drawn as '#' without colour
    await press(app.stdin, 'l');
    const off = await until(app.lastFrame, (f) => f.includes('label off'));
    expect(sliceArea(off)).not.toContain('#');
    await press(app.stdin, 'c', KEY.up);
    await until(app.lastFrame, (f) => /coronal \d+\/24/.test(f));
  });
});
