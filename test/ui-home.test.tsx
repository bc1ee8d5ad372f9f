// Home screen and app-level keys, with a fake core: keys in, frames out.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import {keyNames, splitChunk} from '../src/ui/hooks/useKeys.js';
import {App} from '../src/ui/root.js';
import {FakeCore, runInfo} from './ui-fake-core.js';
import {KEY, press, until} from './ui-keys.js';

afterEach(() => cleanup());

function mount(core = new FakeCore(), size = {columns: 80, rows: 24}) {
  let exitCode: number | null = null;
  const app = render(<App core={core} size={size} colour={false} onExit={(c) => (exitCode = c)} />);
  return {...app, core, exitCode: () => exitCode};
}

describe('Home', () => {
  it('shows the doctor line, recent runs and datasets', async () => {
    const core = new FakeCore({runs: [{info: runInfo({name: 'demo-1', epoch: 3, epochs: 10, bestDice: 0.7123}), events: [], evalEvents: [], scalars: null},
      {info: runInfo({name: 'cv-1', status: 'incomplete', cv: {folds: 5, done: 2, dice: null, std: null}}), events: [], evalEvents: [], scalars: null}]});
    const {lastFrame} = mount(core);
    const frame = await until(lastFrame, (f) => f.includes('torch 2.5.1') && f.includes('demo-1'));
    expect(frame).toMatch(/… cv-1\s+2\/5 cv/); // a cross-validation run: its folds, not its status cut to fit
    expect(frame).toContain('Python 3.12.3');
    expect(frame).toContain('3/10');
    expect(frame).toContain('Dice 0.712');
    expect(frame).toContain('/data/la');
  });

  it('fits 80 columns and 23 rows at 80x24', async () => {
    const {lastFrame} = mount();
    const frame = await until(lastFrame, (f) => f.includes('torch'));
    const lines = frame.split('\n');
    expect(lines.length).toBeLessThanOrEqual(23);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
  });

  it('q quits after the core has shut down, with exit code 0', async () => {
    const {stdin, lastFrame, core, exitCode} = mount();
    await until(lastFrame, (f) => f.includes('torch'));
    await press(stdin, 'q');
    await until(() => String(exitCode()), (t) => t === '0');
    expect(core.shutdowns).toBe(1);
  });

  it('Ctrl-C quits from any screen with exit code 130', async () => {
    const {stdin, lastFrame, core, exitCode} = mount();
    await until(lastFrame, (f) => f.includes('torch'));
    await press(stdin, 'r');
    await until(lastFrame, (f) => f.includes('heartseg › runs'));
    await press(stdin, KEY.ctrlC);
    await until(() => String(exitCode()), (t) => t === '130');
    expect(core.shutdowns).toBe(1);
  });

  it('opens the screens by their keys and comes back with Esc', async () => {
    const {stdin, lastFrame} = mount();
    await until(lastFrame, (f) => f.includes('torch'));
    for (const [key, title] of [['d', 'dataset'], ['c', 'configure'], ['r', 'runs']] as const) {
      await press(stdin, key);
      await until(lastFrame, (f) => f.includes(`heartseg › ${title}`)).catch((e) => { throw new Error(`${key}: ${e.message}`); });
      await press(stdin, KEY.escape);
      await until(lastFrame, (f) => f.includes('heartseg › home'));
    }
  });

  it('re-renders to a new terminal size', async () => {
    const core = new FakeCore();
    const app = render(<App core={core} size={{columns: 80, rows: 24}} colour={false} />);
    await until(app.lastFrame, (f) => f.includes('torch'));
    app.rerender(<App core={core} size={{columns: 120, rows: 40}} colour={false} />);
    const frame = await until(app.lastFrame, (f) => f.split('\n').length > 30);
    expect(frame.split('\n').length).toBeLessThanOrEqual(39);
  });
});

describe('key names', () => {
  it('splits a chunk typed at once into single keys', () => {
    const keys = splitChunk('a/\r\u007f\tZ\u0003');
    expect(keys.map(([input, key]) => keyNames(input, key))).toEqual([['a'], ['/'], ['enter'], ['backspace'], ['tab'], ['Z'], ['ctrl+c']]);
  });
});
