// trainReducer fed event sequences, including the shared examples in schema/events/examples.jsonl.
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {parseEventLine, type EngineEvent} from '../src/core/events.js';
import {exitedWithoutEnd, MAX_MESSAGES} from '../src/ui/state/common.js';
import {epochEtaSeconds, initialTrain, replayTrain, runEtaSeconds, trainReducer} from '../src/ui/state/trainReducer.js';

const examples: EngineEvent[] = readFileSync(path.resolve(__dirname, '..', 'schema', 'events', 'examples.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => {
    const r = parseEventLine(l);
    if (!r.ok) throw new Error(`examples.jsonl: ${r.error}`);
    return r.event;
  });

const base = {v: 1 as const, time: 100};
const memory = {cpu_rss_mb: 500, gpu_allocated_mb: 1200, gpu_reserved_mb: 2048};

describe('trainReducer', () => {
  it('follows the example stream: run, data, epochs, checkpoint, messages and the end', () => {
    const s = replayTrain(examples);
    expect(s.command).toBe('train');
    expect(s.runDir).toBe('runs/demo');
    expect(s.device).toBe('cpu');
    expect(s.data).toEqual({cases: 20, train: 16, val: 4, patch: [32, 64, 64], spacing: [1.25, 1.25, 1.25]});
    expect(s.history.map((r) => [r.epoch, r.trainLoss, r.valDice])).toEqual([
      [1, 0.61, 0.71],
      [2, 0.52, null],
    ]);
    expect(s.bestDice).toBe(0.71);
    expect(s.memory).toEqual({cpuMb: 815, gpuAllocatedMb: null, gpuReservedMb: null});
    expect(s.checkpoints).toEqual([{kind: 'best', path: 'runs/demo/checkpoints/best.pt', epoch: 1}]);
    expect(s.messages.filter((m) => m.level === 'warning').map((m) => m.text)).toEqual(['label is empty']);
    expect(s.error?.file).toBe('labelsTr/case_003.nii.gz');
    // The last run_end in the file is the interrupted one.
    expect(s.status).toBe('interrupted');
    expect(s.end).toMatchObject({status: 'interrupted', reason: 'SIGINT', exitCode: 130, epoch: 3});
  });

  it.each([
    // [steps as (iter, time)], expected iterations per second
    [[[2, 10], [6, 12]], 2],
    [[[1, 10], [2, 14]], 0.25],
    [[[5, 10], [5, 11]], null], // no progress: no rate
  ])('measures %j as %s it/s', (steps, rate) => {
    let s = trainReducer(initialTrain, {...base, type: 'epoch_start', epoch: 1, epochs: 2, iters: 10});
    for (const [iter, time] of steps) s = trainReducer(s, {...base, time, type: 'step', epoch: 1, iter, iters: 10, loss: 0.5, lr: 1e-3});
    expect(s.itersPerS).toBe(rate);
    if (rate) expect(epochEtaSeconds(s)).toBeCloseTo((10 - steps[steps.length - 1][0]) / rate);
  });

  it('does not mix step rates across epochs', () => {
    let s = trainReducer(initialTrain, {...base, type: 'step', epoch: 1, iter: 9, iters: 10, loss: 1, lr: 1, time: 10});
    s = trainReducer(s, {...base, type: 'step', epoch: 2, iter: 1, iters: 10, loss: 1, lr: 1, time: 11});
    expect(s.itersPerS).toBeNull();
  });

  it('estimates the run ETA from epoch times and the current epoch', () => {
    const end = (epoch: number, seconds: number): EngineEvent => ({...base, type: 'epoch_end', epoch, epochs: 4, train_loss: 1, lr: 1, seconds, memory});
    let s = replayTrain([end(1, 10), end(2, 20)]);
    s = {...s, status: 'running'};
    expect(runEtaSeconds(s)).toBe(2 * 15); // two epochs left at the mean 15 s
    s = trainReducer(s, {...base, type: 'epoch_start', epoch: 3, epochs: 4, iters: 10});
    s = trainReducer(s, {...base, type: 'step', epoch: 3, iter: 2, iters: 10, loss: 1, lr: 1, time: 0});
    s = trainReducer(s, {...base, type: 'step', epoch: 3, iter: 6, iters: 10, loss: 1, lr: 1, time: 2});
    expect(runEtaSeconds(s)).toBe(2 + 15); // 4 iterations at 2/s, then one more epoch
  });

  it.each([
    // [train.minutes in run_start's config, elapsed_seconds of the last step], expected ETA
    [45, 600, 45 * 60 - 600],
    [1, 90, 0], // past the budget: it is ending now, never negative
    [0, 600, null], // no budget, no epoch or step rate yet: unknown
  ])('with train.minutes %s and %s s used, the run ETA is against the budget: %s', (minutes, elapsed, eta) => {
    let s = trainReducer(initialTrain, {...base, type: 'run_start', command: 'train', config: {train: {minutes}}} as EngineEvent);
    s = trainReducer(s, {...base, type: 'epoch_start', epoch: 1, epochs: 40, iters: 10});
    s = trainReducer(s, {...base, type: 'step', epoch: 1, iter: 1, iters: 10, loss: 1, lr: 1, time: 0, elapsed_seconds: elapsed});
    s = {...s, status: 'running'};
    expect(s.budgetSeconds).toBe(minutes ? minutes * 60 : null);
    expect(runEtaSeconds(s)).toBe(eta);
  });

  it('replaces repeated epochs of a resumed run and keeps GPU memory', () => {
    const end = (epoch: number, loss: number): EngineEvent => ({...base, type: 'epoch_end', epoch, epochs: 5, train_loss: loss, lr: 1, seconds: 1, memory});
    const s = replayTrain([end(1, 0.9), end(2, 0.8), end(3, 0.7), end(2, 0.75), end(3, 0.65)]);
    expect(s.history.map((r) => [r.epoch, r.trainLoss])).toEqual([[1, 0.9], [2, 0.75], [3, 0.65]]);
    expect(s.memory).toEqual({cpuMb: 500, gpuAllocatedMb: 1200, gpuReservedMb: 2048});
  });

  it('an exit without run_end ends the run by its exit code, once', () => {
    expect(exitedWithoutEnd(initialTrain, 0).status).toBe('completed');
    expect(exitedWithoutEnd(initialTrain, 130).status).toBe('interrupted');
    const failed = exitedWithoutEnd(initialTrain, 1);
    expect(failed.end).toMatchObject({status: 'failed', exitCode: 1, reason: 'engine exited with code 1'});
    const ended = replayTrain(examples);
    expect(exitedWithoutEnd(ended, 1)).toBe(ended);
  });

  it('keeps at most MAX_MESSAGES messages, the newest', () => {
    const warnings: EngineEvent[] = Array.from({length: MAX_MESSAGES + 5}, (_, i) => ({...base, type: 'warning', message: `w${i}`}));
    const s = replayTrain(warnings);
    expect(s.messages).toHaveLength(MAX_MESSAGES);
    expect(s.messages.at(-1)?.text).toBe(`w${MAX_MESSAGES + 4}`);
  });

  it('is pure: the input state is not changed', () => {
    const before = replayTrain(examples.slice(0, 4));
    const copy = structuredClone(before);
    trainReducer(before, examples[5]);
    expect(before).toEqual(copy);
  });
});
