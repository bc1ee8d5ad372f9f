// Parts of the real core facade that need no Python: engine runs as UI event streams, the dataset report.
import {describe, expect, it} from 'vitest';
import type {DatasetAnalysis} from '../src/core/analyze/index.js';
import {Engine} from '../src/core/engine.js';
import type {EngineEvent} from '../src/core/events.js';
import {fromEngine} from '../src/core/facade/index.js';
import {datasetReport} from '../src/core/facade/report.js';

/** A stand-in engine: node writes the given event lines to fd 3 and a line to stderr, then exits. */
function fakeEngine(events: object[], stderr: string, code: number): Engine {
  const script = `const fs = require('fs');
for (const e of ${JSON.stringify(events)}) fs.writeSync(3, JSON.stringify(e) + '\\n');
process.stderr.write(${JSON.stringify(stderr)} + '\\n');
process.exit(${code});`;
  return new Engine({file: process.execPath, args: ['-e', script], forwardSignals: false});
}

async function collect(run: {events: AsyncIterable<EngineEvent>; done: Promise<number>}) {
  const events: EngineEvent[] = [];
  for await (const e of run.events) events.push(e);
  return {events, code: await run.done};
}

const start = {v: 1, type: 'run_start', time: 1, command: 'train', run_dir: '/r'};

describe('fromEngine', () => {
  it('passes events through and reports a crash without run_end as an error event', async () => {
    let cleaned = 0;
    const {events, code} = await collect(fromEngine(fakeEngine([start], 'heartseg: internal error: KeyError: x', 1), '/r', () => cleaned++));
    expect(code).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['run_start', 'error']);
    expect(events[1]).toMatchObject({message: 'internal error: KeyError: x', kind: 'internal'});
    expect(cleaned).toBe(1);
  });

  it('adds nothing when the engine ended properly or was interrupted', async () => {
    const end = {v: 1, type: 'run_end', time: 2, status: 'completed', reason: 'max_epochs', exit_code: 0};
    expect((await collect(fromEngine(fakeEngine([start, end], '', 0), '/r', () => undefined))).events).toHaveLength(2);
    expect((await collect(fromEngine(fakeEngine([start], 'heartseg: interrupted', 130), '/r', () => undefined))).events).toHaveLength(1);
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

  it('gives one row per case (3-D shape and spacing), summary lines and problems naming the file', () => {
    const r = datasetReport(analysis);
    expect(r.cases).toEqual([{name: 'a', shape: [10, 12, 8], spacing: [1, 1, 2], orientation: 'RAS', min: -1, max: 5, labelMl: 0.2}]);
    expect(r.summary).toEqual([
      '2 pairs of 2 images and 3 labels · median spacing 1 x 1 x 2 mm',
      'shapes 10x12x8 to 10x12x8 · orientation RAS 1 · foreground 10 %',
      'left atrium: mean 0.2 mL (0.2-0.2)',
    ]);
    expect(r.problems).toEqual(['labelsTr/x.nii.gz: no image for this label']);
  });
});
