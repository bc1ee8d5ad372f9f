// Evaluate screen: per-case metrics table (sortable), summary, two-colour slices and a turnable 3D surface.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import {App} from '../src/ui/root.js';
import type {EngineEvent} from '../src/core/events.js';
import {FakeCore, runInfo, t0} from './ui-fake-core.js';
import {KEY, press, until} from './ui-keys.js';

afterEach(() => cleanup());

function caseEvent(name: string, dice: number, hd95: number | 'inf', index: number): EngineEvent {
  return {v: 1, type: 'case_metrics', time: t0 + index, case: name, label: 'left atrium', index, total: 3,
    metrics: {dice, iou: dice / (2 - dice), precision: dice, recall: dice, hd95, assd: 1, abs_vol_diff_ml: 2, rel_vol_diff: 0.1}};
}

const cases = [caseEvent('case_b', 0.91, 3.2, 1), caseEvent('case_a', 0.75, 'inf', 2), caseEvent('case_c', 0.84, 5.5, 3)];
const summary: EngineEvent = {v: 1, type: 'eval_summary', time: t0 + 9, cases: 3, out_dir: '/runs/demo/eval',
  summary: {'left atrium': {dice: {mean: 0.8333, std: 0.0655, median: 0.84, min: 0.75, max: 0.91}, hd95: {mean: 'inf', std: null, median: 5.5, min: 3.2, max: 'inf'}}}};

function mount(start = true, core = new FakeCore()) {
  const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={{screen: 'evaluate', runDir: '/runs/demo', start, data: '/data/la'}} />);
  return {...app, core};
}

/** Case names in the order the table shows them. */
function order(frame: string): string[] {
  return [...frame.matchAll(/case_[abc]/g)].map((m) => m[0]);
}

describe('Evaluate', () => {
  it('runs the evaluation and fills the table, progress and summary from events', async () => {
    const {lastFrame, core} = mount();
    await until(() => core.started.length, (n) => n === 1);
    expect(core.lastRun.args).toEqual({model: {kind: 'run', runDir: '/runs/demo'}, data: '/data/la'});
    core.lastRun.push({v: 1, type: 'run_start', time: t0, command: 'evaluate', run_dir: '/runs/demo'}, ...cases.slice(0, 2));
    let frame = await until(lastFrame, (f) => f.includes('case_a'));
    expect(frame).toMatch(/cases\s+2\/3/);
    expect(frame).toContain('inf'); // an infinite HD95 is shown as such
    core.lastRun.push(cases[2], summary, {v: 1, type: 'run_end', time: t0 + 10, status: 'completed', reason: 'evaluated 3 cases', exit_code: 0});
    core.lastRun.end(0);
    frame = await until(lastFrame, (f) => f.includes('left atrium: Dice'));
    expect(frame).toContain('left atrium: Dice 0.833 ± 0.066 (median 0.840, min 0.750) · HD95 median 5.50 mm');
    expect(frame).not.toMatch(/cases\s+\d\/3/); // the progress bar is gone
  });

  it('sorts by the column key and flips the order on a second press', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(() => core.started.length, (n) => n === 1);
    core.lastRun.push(...cases);
    let frame = await until(lastFrame, (f) => order(f).length === 3);
    expect(order(frame)).toEqual(['case_a', 'case_b', 'case_c']); // by case name first
    await press(stdin, '2'); // dice, best first
    frame = await until(lastFrame, (f) => f.includes('dice↓'));
    expect(order(frame)).toEqual(['case_b', 'case_c', 'case_a']);
    await press(stdin, '2');
    frame = await until(lastFrame, (f) => f.includes('dice↑'));
    expect(order(frame)).toEqual(['case_a', 'case_c', 'case_b']);
    await press(stdin, '6'); // hd95: the infinite one sorts as the largest
    frame = await until(lastFrame, (f) => f.includes('hd95↓'));
    expect(order(frame)[0]).toBe('case_a');
  });

  it('shows reference and prediction slices of the selected case; keys switch axis, slice, overlay and case', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(() => core.started.length, (n) => n === 1);
    core.lastRun.push(...cases);
    await until(lastFrame, (f) => order(f).length === 3);
    await press(stdin, KEY.down, KEY.enter); // the second row: case_b
    let frame = await until(lastFrame, (f) => f.includes('SLICE case_b'));
    expect(frame).toContain('SLICE case_b axial 10 overlay=on colour=false');
    expect(frame).toContain('reference # · prediction');
    await press(stdin, 's', KEY.up, KEY.up, 'l');
    frame = await until(lastFrame, (f) => f.includes('SLICE case_b sagittal 22 overlay=off'));
    expect(frame).toContain('sagittal 23/40');
    await press(stdin, ']');
    await until(lastFrame, (f) => f.includes('SLICE case_c'));
  });

  it('draws the predicted surface shaded in 3D and turns it with the arrow keys', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(() => core.started.length, (n) => n === 1);
    core.lastRun.push(...cases);
    await until(lastFrame, (f) => order(f).length === 3);
    await press(stdin, KEY.tab, KEY.tab);
    const before = await until(lastFrame, (f) => f.includes('surface voxels'));
    expect(before).toContain('yaw 30° pitch 20°');
    const shaded = before.split('\n').filter((l) => /[.:\-=+*#%@]{3,}/.test(l));
    expect(shaded.length).toBeGreaterThan(3);
    await press(stdin, KEY.right, KEY.right, KEY.up);
    const after = await until(lastFrame, (f) => f.includes('yaw 60° pitch 35°'));
    expect(after).not.toEqual(before);
  });

  it('without a new evaluation shows the one recorded in the run', async () => {
    const core = new FakeCore({runs: [{info: runInfo({name: 'demo', hasEval: true}), events: [...cases, summary], evalEvents: [], scalars: null}]});
    const {lastFrame} = mount(false, core);
    const frame = await until(lastFrame, (f) => f.includes('left atrium: Dice'));
    expect(order(frame)).toEqual(['case_a', 'case_b', 'case_c']);
    expect(core.started).toHaveLength(0);
  });

  it('a failed evaluation says why', async () => {
    const {lastFrame, core} = mount();
    await until(() => core.started.length, (n) => n === 1);
    core.lastRun.push({v: 1, type: 'error', time: t0, message: 'no dataset: give --data DATA', kind: 'bad_input'});
    core.lastRun.end(2);
    await until(lastFrame, (f) => f.includes('evaluation failed: no dataset: give --data DATA'));
  });
});
