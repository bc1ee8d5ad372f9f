// The application core's own parts: the one async queue, a Job around an engine process, the layered config with
// provenance, typed resume changes, run names, exit statuses from the contract, the dataset report in z, y, x.
import {describe, expect, it} from 'vitest';
import type {DatasetAnalysis} from '../src/core/analyze/index.js';
import {configure, parseAssignments} from '../src/core/app/configure.js';
import {checkName} from '../src/core/app/engine-jobs.js';
import {engineJob} from '../src/core/app/job.js';
import {AsyncQueue} from '../src/core/app/queue.js';
import {datasetReport} from '../src/core/app/report.js';
import {Engine} from '../src/core/engine.js';
import type {EngineEvent} from '../src/core/events.js';
import {fmtDuration, fmtValue, toZyx} from '../src/core/format.js';
import {CONTRACT} from '../src/core/generated/contract.js';
import {codeOfStatus, statusOf} from '../src/core/status.js';
import {FAKE_PLAN} from './ui-fake-core.js';

describe('AsyncQueue', () => {
  it('hands out what was pushed before and after the reader came, then ends', async () => {
    const q = new AsyncQueue<number>();
    q.push(1, 2);
    const got: number[] = [];
    const reading = (async () => {
      for await (const x of q) got.push(x);
    })();
    await new Promise((r) => setTimeout(r, 5));
    q.push(3);
    q.end();
    q.push(4); // after the end: dropped
    await reading;
    expect(got).toEqual([1, 2, 3]);
  });

  it('a failure reaches the reader after the queued items; a second reader is refused', async () => {
    const q = new AsyncQueue<string>();
    q.push('a');
    q.fail(new Error('gone'));
    const got: string[] = [];
    await expect((async () => {
      for await (const x of q) got.push(x);
    })()).rejects.toThrow('gone');
    expect(got).toEqual(['a']);
    await expect((async () => {
      for await (const _ of q) void _;
    })()).rejects.toThrow(/already has a reader/);
  });
});

/** A stand-in engine: node writes the given event lines to fd 3 and lines to stderr, then exits. */
function fakeEngine(events: object[], stderr: string[], code: number): Engine {
  const script = `const fs = require('fs');
for (const e of ${JSON.stringify(events)}) fs.writeSync(3, JSON.stringify(e) + '\\n');
for (const l of ${JSON.stringify(stderr)}) process.stderr.write(l + '\\n');
process.exit(${code});`;
  return new Engine({file: process.execPath, args: ['-e', script], forwardSignals: false});
}

const start = {v: 1, type: 'run_start', time: 1, command: 'train', run_dir: '/r'};

describe('engineJob', () => {
  async function collect(engine: Engine, after = () => undefined) {
    const job = engineJob(engine, {kind: 'train', runDir: '/r', after});
    const events: EngineEvent[] = [];
    for await (const e of job.events) events.push(e);
    return {events, result: await job.done};
  }

  it('a crash without run_end ends the stream with an error event and the reason in the result', async () => {
    let cleaned = 0;
    const {events, result} = await collect(fakeEngine([start], ['heartseg: internal error: KeyError: x'], 1), () => void cleaned++);
    expect(events.map((e) => e.type)).toEqual(['run_start', 'error']);
    expect(result).toMatchObject({exitCode: 1, status: 'failed', problems: ['internal error: KeyError: x']});
    expect(cleaned).toBe(1);
  });

  it("a refusal lists each of the engine's problems, one per line", async () => {
    const {result} = await collect(fakeEngine([], ['heartseg: 2 problems:', '  - a.nii.gz: empty', '  - b.nii.gz: 4-D'], 2));
    expect(result).toMatchObject({exitCode: 2, status: 'bad_input', problems: ['a.nii.gz: empty', 'b.nii.gz: 4-D']});
  });

  it('an invalid event line becomes a warning in the stream; a proper end adds nothing', async () => {
    const end = {v: 1, type: 'run_end', time: 2, status: 'completed', reason: 'max_epochs', exit_code: 0};
    const {events, result} = await collect(fakeEngine([start, {v: 1, type: 'run_start', time: 1, command: 'x', surprise: 1}, end], [], 0));
    expect(events.map((e) => e.type)).toEqual(['run_start', 'warning', 'run_end']);
    expect(result).toMatchObject({exitCode: 0, status: 'completed', problems: []});
    expect(result.paths).toEqual({}); // /r does not exist: only paths that exist are reported
  });
});

describe('configure: defaults < plan < preset < file < user, with the layer of every key', () => {
  const presets: Record<string, Record<string, unknown>> = {small: {model: {features: [8, 16]}, train: {epochs: 4}}};
  const conf = (layers: Parameters<typeof configure>[0]) => configure(layers, {loadPreset: (n) => presets[n]});

  it.each([
    [{}, 'train.epochs', 100, 'default'],
    [{plan: FAKE_PLAN}, 'train.epochs', 21, 'plan'],
    [{plan: FAKE_PLAN, preset: 'small'}, 'train.epochs', 4, 'preset'],
    [{plan: FAKE_PLAN, preset: 'small', edits: {'train.epochs': 9}}, 'train.epochs', 9, 'user'],
    [{plan: FAKE_PLAN, preset: 'small'}, 'data.patch', [32, 64, 80], 'plan'],
  ])('%j: %s = %j from %s', (layers, key, value, source) => {
    const c = conf(layers);
    expect(key.split('.').reduce((o: any, k) => o[k], c.config)).toEqual(value);
    expect(c.sources[key]).toBe(source);
    expect(c.problems).toEqual([]);
  });

  it("keeps the plan's reasons only for the keys it still decides", () => {
    const c = conf({plan: FAKE_PLAN, edits: {'train.epochs': 3}});
    expect(Object.keys(c.reasons).sort()).toEqual(['data.patch', 'model.features']);
  });

  it("reports problems in the engine's words and the file's name", () => {
    expect(conf({edits: {'train.epochs': 0}}).problems).toEqual(['train.epochs: got 0, expected an integer >= 1']);
    expect(conf({file: '/nonexistent/c.json'}).problems).toEqual(['/nonexistent/c.json: config file not found']);
  });
});

describe('typed resume changes, run names', () => {
  it.each([
    ['epochs=40', {'train.epochs': 40}, []],
    ['train.patience=5 --val-every=2', {'train.patience': 5, 'train.val_every': 2}, []],
    ['patch=16,16,16', {'data.patch': [16, 16, 16]}, []],
    ['epochs', {}, ['epochs: expected KEY=VALUE']],
    ['bogus=1', {}, ['unknown config key bogus']],
  ])('%j', (text, edits, problems) => {
    expect(parseAssignments(text)).toEqual({edits, problems});
  });

  it.each(['..', '.hidden', 'a/b', '', 'x y'])('refuses the run name %j', (name) => {
    expect(() => checkName(name)).toThrow(/--name/);
  });

  it.each(['la-2025', 'run_1.b'])('accepts %j', (name) => expect(checkName(name)).toBe(name));
});

describe('statuses and formats, once', () => {
  it('maps exit codes and run_end statuses through CONTRACT.exit_codes', () => {
    for (const [status, code] of Object.entries(CONTRACT.exit_codes)) expect(statusOf(code)).toBe(status);
    expect(statusOf(7)).toBe('failed');
    expect([codeOfStatus('completed'), codeOfStatus('interrupted'), codeOfStatus('failed', 2), codeOfStatus('failed')]).toEqual([0, 130, 2, 1]);
  });

  it.each([[5, '5s'], [185, '3m05s'], [3720, '1h02m'], [null, '-'], [Infinity, '-']])('fmtDuration(%s) = %s', (s, text) => {
    expect(fmtDuration(s)).toBe(text);
  });

  it.each([[1, '1'], [1.0, '1'], [0.12345, '0.1235'], [Infinity, 'inf'], [-Infinity, '-inf'], [NaN, '-']])('fmtValue(%s) = %s', (v, text) => {
    expect(fmtValue(v)).toBe(text);
  });

  it.each([
    ['RAS', [0, 1, 2], [2, 1, 0]],
    ['LPS', [0, 1, 2], [2, 1, 0]],
    ['PSR', [0, 1, 2], [1, 0, 2]],
    [null, [0, 1, 2], [2, 1, 0]],
  ])('orientation %s puts the S/I axis first: %j -> %j', (o, values, zyx) => {
    expect(toZyx(values, o)).toEqual(zyx);
  });
});

describe('datasetReport', () => {
  const analysis: DatasetAnalysis = {
    root: '/d', name: 'la', labels: {'0': 'background', '1': 'left atrium'}, pairs: 2, images: 2, labelFiles: 3,
    problems: [{file: 'labelsTr/x.nii.gz', message: 'no image for this label'}],
    cases: [
      {name: 'a', image: 'imagesTr/a.nii.gz', label: 'labelsTr/a.nii.gz', shape: [10, 12, 8, 1], spacing: [1, 1, 2, 1], orientation: 'RAS',
        datatype: 'float32', labelDatatype: 'uint8', intensity: {min: -1, max: 5, mean: 0, p005: -1, p995: 5, nonFinite: 0},
        labelVolumes: {'1': {voxels: 100, ml: 0.2}}, foreground: {voxels: 100, ml: 0.2, fraction: 0.1}, centre: [5, 6, 4]},
    ],
    summary: {cases: 1, medianSpacing: [1, 1, 2], shapeMin: [10, 12, 8], shapeMax: [10, 12, 8], orientations: {RAS: 1},
      intensity: {min: -1, max: 5, meanOfMeans: 0},
      labelVolumes: {'1': {name: 'left atrium', cases: 1, meanMl: 0.2, minMl: 0.2, maxMl: 0.2, meanVoxels: 100, minVoxels: 100, maxVoxels: 100}},
      classBalance: {'0': 0.9, '1': 0.1}},
  };

  it('gives one row per case in z, y, x order, labelled summary lines and problems naming the file', () => {
    const r = datasetReport(analysis);
    expect(r.cases).toEqual([{name: 'a', shape: [8, 12, 10], spacing: [2, 1, 1], orientation: 'RAS', min: -1, max: 5, labelMl: 0.2}]);
    expect(r.summary).toEqual([
      '2 pairs of 2 images and 3 labels · median spacing z,y,x 2 x 1 x 1 mm',
      'shapes z,y,x 8x12x10 to 8x12x10 · orientation RAS 1 · foreground 10 %',
      'left atrium: mean 0.2 mL (0.2-0.2)',
    ]);
    expect(r.problems).toEqual(['labelsTr/x.nii.gz: no image for this label']);
  });
});
