// Train screen with a fake core: events pushed by the test appear as progress, charts, memory and log.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import {App} from '../src/ui/root.js';
import type {Route} from '../src/ui/state/navReducer.js';
import {FakeCore, t0, trainEvents} from './ui-fake-core.js';
import {KEY, press, until} from './ui-keys.js';

afterEach(() => cleanup());

const core0 = new FakeCore();
const configured = core0.configure({data: '/data/la', edits: {name: 'demo'}});

function mountTrain(route: Route = {screen: 'train', launch: {mode: 'new', configured}}) {
  const core = new FakeCore();
  const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={route} />);
  return {...app, core};
}

describe('Train', () => {
  it('starts the engine with the config and draws progress, charts, memory and the epoch log', async () => {
    const {lastFrame, core} = mountTrain();
    await until(lastFrame, (f) => f.includes('starting the engine'));
    expect(core.lastRun.kind).toBe('train');
    expect(core.lastRun.args).toEqual({configured});
    const events = trainEvents(4);
    core.lastRun.push(...events.slice(0, 4)); // run_start, data, epoch_start, first step
    let frame = await until(lastFrame, (f) => f.includes('iter') && f.includes('2/5'));
    expect(frame).toContain('cpu · torch 2.5.1');
    expect(frame).toContain('3+1 cases');
    expect(frame).toContain('waiting for data');
    core.lastRun.push(...events.slice(4));
    frame = await until(lastFrame, (f) => f.includes('epoch 4/4'));
    expect(frame).toMatch(/epoch\s+4\/4/);
    expect(frame).toContain('best Dice 0.6600');
    expect(frame).toContain('CPU 804 MB');
    expect(frame).toMatch(/[\u2801-\u28ff]/); // braille dots of the charts
    expect(frame).not.toContain('waiting for data');
    expect(frame).toContain('1…4'); // the x range of the charts
    expect(frame).toContain('epoch 3/4 loss 0.3333 dice 0.6200 best'); // the log of finished epochs
    for (const l of frame.split('\n')) expect([...l].length).toBeLessThanOrEqual(80);
    expect(frame.split('\n').length).toBeLessThanOrEqual(23);
  });

  it('with a time budget the first bar is the budget used, not epochs of the cap', async () => {
    const {lastFrame, core} = mountTrain();
    await until(lastFrame, (f) => f.includes('starting the engine'));
    const [start, data, epochStart] = trainEvents(1);
    core.lastRun.push({...start, config: {train: {minutes: 30}}} as typeof start, data, epochStart,
      {v: 1, type: 'step', time: t0 + 12, epoch: 1, iter: 2, iters: 5, loss: 1, lr: 0.001, elapsed_seconds: 450} as typeof start);
    const frame = await until(lastFrame, (f) => /time\s+7m30s\/30m00s/.test(f));
    expect(frame).toMatch(/ 25%/); // 450 s of 1,800
    expect(frame).toContain('ETA 22m30s');
    expect(frame).not.toMatch(/^epoch\s+\d+\/\d+ /m);
  });

  it('measures throughput from consecutive steps', async () => {
    const {lastFrame, core} = mountTrain();
    await until(lastFrame, (f) => f.includes('starting the engine'));
    core.lastRun.push(...trainEvents(2).slice(0, 5)); // two steps two seconds apart, two iterations apart
    const frame = await until(lastFrame, (f) => f.includes('it/s'));
    expect(frame).toContain('1.00 it/s 220k vox/s');
    expect(frame).toMatch(/ETA 1s/); // one iteration left at one per second
  });

  it('s stops the run once and keeps the screen until it ended; then e opens the evaluation', async () => {
    const {lastFrame, stdin, core} = mountTrain();
    await until(lastFrame, (f) => f.includes('starting the engine'));
    const run = core.lastRun;
    run.push(...trainEvents(2).slice(0, 6));
    await until(lastFrame, (f) => f.includes('epoch 1/2'));
    await press(stdin, 'e'); // not finished: nothing happens
    await press(stdin, KEY.escape);
    let frame = await until(lastFrame, (f) => f.includes('press s to stop it first'));
    expect(frame).toContain('heartseg › train');
    await press(stdin, 's');
    await until(lastFrame, (f) => f.includes('stopping after this step'));
    await press(stdin, 's');
    expect(run.stops).toBe(1);
    run.push(
      {v: 1, type: 'checkpoint', time: t0 + 30, path: '/runs/new/checkpoints/last.pt', kind: 'last', epoch: 1},
      {v: 1, type: 'run_end', time: t0 + 31, status: 'interrupted', reason: 'SIGINT', exit_code: 130, best_dice: 0.54, epoch: 1},
    );
    run.end(130);
    frame = await until(lastFrame, (f) => f.includes('interrupted (SIGINT)'));
    expect(frame).toContain('best Dice 0.5400');
    await press(stdin, 'e');
    await until(lastFrame, (f) => f.includes('heartseg › evaluate'));
    await until(() => core.lastRun.kind, (k) => k === 'evaluate');
    expect(core.lastRun.args).toEqual({model: {kind: 'run', runDir: '/runs/demo'}, data: '/data/la'});
  });

  it('b starts TensorBoard for the run and shows its address', async () => {
    const {lastFrame, stdin, core} = mountTrain();
    await until(lastFrame, (f) => f.includes('starting the engine'));
    core.lastRun.push(trainEvents(1)[0]);
    await until(lastFrame, (f) => f.includes('/runs/demo'));
    await press(stdin, 'b');
    await until(lastFrame, (f) => f.includes('TensorBoard: http://127.0.0.1:6006/'));
    expect(core.boards).toEqual(['/runs/demo']);
  });

  it('an engine that refuses its input (exit 2, no run_end) is shown as refused, with its error', async () => {
    const {lastFrame, core} = mountTrain();
    await until(lastFrame, (f) => f.includes('starting the engine'));
    core.lastRun.push({v: 1, type: 'error', time: t0, message: 'image and label shapes differ', file: 'labelsTr/x.nii.gz', hint: null, kind: 'bad_input'});
    core.lastRun.end(2);
    const frame = await until(lastFrame, (f) => f.includes('refused'));
    expect(frame).toContain('error: labelsTr/x.nii.gz: image and label shapes differ'); // FILE: problem, as on the command line
    expect(frame).toContain('refused: labelsTr/x.nii.gz: image and label shapes differ');
  });

  it('watch replays a run and s only stops following it', async () => {
    const {lastFrame, stdin, core} = mountTrain({screen: 'train', launch: {mode: 'watch', runDir: '/runs/demo'}});
    await until(lastFrame, (f) => f.includes('heartseg › watch') && f.includes('waiting for the run’s events')); // no engine to start
    expect(core.lastRun.kind).toBe('watch');
    core.lastRun.push(...trainEvents(3));
    await until(lastFrame, (f) => f.includes('epoch 3/3'));
    await press(stdin, 's');
    await until(lastFrame, (f) => f.includes('stopped following'));
    expect(core.lastRun.stops).toBe(1);
  });

  it('shows the run ended by the engine with its final Dice', async () => {
    const {lastFrame, core} = mountTrain();
    await until(lastFrame, (f) => f.includes('starting the engine'));
    core.lastRun.push(...trainEvents(1), {v: 1, type: 'run_end', time: t0 + 99, status: 'completed', reason: 'max_epochs', exit_code: 0, best_dice: 0.54, epoch: 1});
    core.lastRun.end(0);
    const frame = await until(lastFrame, (f) => f.includes('completed'));
    expect(frame).toContain('completed (max_epochs) · best Dice 0.5400');
    expect(frame).toContain('e evaluate');
  });
});
