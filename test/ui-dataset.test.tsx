// Dataset screen: analysis table, problems, histogram of label volumes, slice viewer keys.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import {App} from '../src/ui/root.js';
import type {Route} from '../src/ui/state/navReducer.js';
import {FakeCore} from './ui-fake-core.js';
import {KEY, press, until} from './ui-keys.js';

afterEach(() => cleanup());

function mount(core = new FakeCore(), route: Route = {screen: 'dataset', root: '/data/la'}) {
  const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} initialRoute={route} />);
  return {...app, core};
}

describe('Dataset', () => {
  it('shows the analysis: summary, problems, per-case table and the label-volume histogram', async () => {
    const {lastFrame} = mount();
    const frame = await until(lastFrame, (f) => f.includes('SLICE la_000'));
    expect(frame).toContain('3 cases · median spacing z,y,x 2.5 x 1.25 x 1.25 mm');
    expect(frame).toContain('! labelsTr/la_003.nii.gz');
    expect(frame).toMatch(/la_001\s+20x40x42\s+2\.5\/1\.25\/1\.25\s+30\.3/);
    expect(frame).toContain('label volume (n=3, peak 1)');
    expect(frame).toMatch(/12\.5 mL\s+30\.3 mL/);
    expect(frame).toMatch(/█/);
    expect(frame).toContain('SLICE la_000 axial 10 overlay=on');
    expect(frame).toContain('la_000 · axial 11/20 · label on');
    for (const l of frame.split('\n')) expect([...l].length).toBeLessThanOrEqual(80);
  });

  it('a/s/c switch the plane, arrows scroll, l toggles the label, [ ] change the case', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, (f) => f.includes('SLICE la_000'));
    await press(stdin, 'c', KEY.up, KEY.up, KEY.up);
    await until(lastFrame, (f) => f.includes('SLICE la_000 coronal 18'));
    await press(stdin, KEY.pageDown, KEY.down);
    await until(lastFrame, (f) => f.includes('SLICE la_000 coronal 7 '));
    await press(stdin, 'l');
    await until(lastFrame, (f) => f.includes('overlay=off') && f.includes('label off'));
    await press(stdin, 'a');
    await until(lastFrame, (f) => f.includes('SLICE la_000 axial 10'));
    for (let i = 0; i < 25; i++) await press(stdin, KEY.up);
    await until(lastFrame, (f) => f.includes('SLICE la_000 axial 19 ')); // stops at the last slice
    await press(stdin, ']');
    await until(lastFrame, (f) => f.includes('SLICE la_001'));
    await press(stdin, '[', '[');
    await until(lastFrame, (f) => f.includes('SLICE la_000'));
  });

  it('asks for a folder when none is known', async () => {
    const core = new FakeCore();
    core.defaultData = null;
    const {lastFrame, stdin} = mount(core, {screen: 'dataset'});
    await until(lastFrame, (f) => f.includes('Which dataset?'));
    await press(stdin, ...'/data/other'.split(''), KEY.enter);
    await until(lastFrame, (f) => f.includes('SLICE la_000'));
  });

  it('shows why an analysis failed', async () => {
    const core = new FakeCore();
    core.analyzeDataset = async (root: string) => {
      throw new Error(`${root}: no dataset.json and no imagesTr/ folder`);
    };
    const {lastFrame} = mount(core);
    await until(lastFrame, (f) => f.includes('/data/la: no dataset.json and no imagesTr/ folder'));
  });

  it('t configures a training on this dataset', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, (f) => f.includes('SLICE la_000'));
    await press(stdin, 't');
    await until(lastFrame, (f) => /data\.root\s+\/data\/la/.test(f));
  });
});

describe('NO_COLOR', () => {
  const saved = process.env.NO_COLOR;
  afterEach(() => {
    if (saved === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved;
  });

  it.each([
    ['1', 'colour=false'],
    ['', 'colour=true'], // an empty NO_COLOR does not count (no-color.org)
    [undefined, 'colour=true'],
  ])('NO_COLOR=%j draws slices with %s', async (value, expected) => {
    if (value === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = value;
    const app = render(<App core={new FakeCore()} size={{columns: 120, rows: 30}} initialRoute={{screen: 'dataset', root: '/data/la'}} />);
    await until(app.lastFrame, (f) => f.includes(expected));
  });
});
