// Configure screen: the form generated from the config schema, validation as you type, presets, save, train.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import {App} from '../src/ui/root.js';
import {FakeCore} from './ui-fake-core.js';
import {KEY, press, until} from './ui-keys.js';

afterEach(() => cleanup());

function mount(rows = 24) {
  const core = new FakeCore();
  const app = render(<App core={core} size={{columns: 80, rows}} colour={false} initialRoute={{screen: 'configure', root: '/data/la'}} />);
  return {...app, core};
}

/** Jump to a field with the find prompt. */
async function find(stdin: {write: (s: string) => void}, text: string) {
  await press(stdin, '/', ...text.split(''), KEY.enter);
}

async function typeValue(stdin: {write: (s: string) => void}, value: string, erase = 20) {
  await press(stdin, KEY.enter, ...Array(erase).fill(KEY.backspace), ...value.split(''));
}

describe('Configure', () => {
  it('lists the schema fields with defaults, the dataset and the default network size', async () => {
    const {lastFrame} = mount();
    const frame = await until(lastFrame, (f) => f.includes('parameters') && f.includes('presets: demo'));
    expect(frame).toMatch(/data\.root\s+\/data\/la/);
    expect(frame).toMatch(/data\.patch\s+64,128,128/);
    expect(frame).toContain('22,581,217 parameters');
    expect(frame).toContain('presets: demo, full');
    expect(frame).toContain('valid');
  });

  it('p applies presets, and the parameter count follows the features', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, (f) => f.includes('presets: demo'));
    await press(stdin, 'p');
    let frame = await until(lastFrame, (f) => f.includes('preset demo'));
    expect(frame).toContain('353,949 parameters');
    expect(frame).toMatch(/data\.root\s+\/data\/la/); // the dataset survives the preset
    await press(stdin, 'p');
    frame = await until(lastFrame, (f) => f.includes('preset full'));
    expect(frame).toContain('22,581,217 parameters');
  });

  it('validates as you type and refuses an invalid value', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, (f) => f.includes('parameters'));
    await find(stdin, 'train.epochs');
    await typeValue(stdin, 'x');
    await until(lastFrame, (f) => f.includes('"x" is not an integer'));
    await press(stdin, KEY.backspace, '0');
    await until(lastFrame, (f) => f.includes('expected an integer >= 1'));
    await press(stdin, KEY.enter); // refused: still editing
    await until(lastFrame, (f) => f.includes('enter accept'));
    await press(stdin, KEY.backspace, '1', KEY.enter);
    const frame = await until(lastFrame, (f) => f.includes('enter edit'));
    expect(frame).toMatch(/train\.epochs\s+1\b/);
    expect(frame).toContain('unsaved');
  });

  it('an invalid list is marked and blocks training until fixed', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, (f) => f.includes('parameters'));
    await find(stdin, 'data.patch');
    await typeValue(stdin, '4,4');
    await until(lastFrame, (f) => f.includes('expected three sizes >= 8'));
    await press(stdin, KEY.escape); // cancel keeps the old value
    let frame = await until(lastFrame, (f) => f.includes('enter edit'));
    expect(frame).toMatch(/data\.patch\s+64,128,128/);
    await find(stdin, 'model.features');
    await typeValue(stdin, '8');
    await until(lastFrame, (f) => f.includes('at least two positive channel counts'));
    await press(stdin, KEY.enter); // an invalid value is not committed: the editor stays open with its message
    frame = await until(lastFrame, (f) => f.includes('at least two positive channel counts'));
    expect(core.started).toHaveLength(0);
    await press(stdin, KEY.escape);
    await until(lastFrame, (f) => f.includes('enter edit'));
    await press(stdin, 't');
    await until(() => String(core.started.length), (n) => n === '1');
    // training starts only with the last valid value, never the refused one
    const launch = core.started[0].args as {config: {model: {features: number[]}}};
    expect(launch.config.model.features).toEqual([32, 64, 128, 256]);
  });

  it('cycles choices and toggles switches', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, (f) => f.includes('parameters'));
    await find(stdin, 'optim.optimizer');
    await press(stdin, KEY.right);
    await until(lastFrame, (f) => /optim\.optimizer\s+sgd/.test(f));
    await find(stdin, 'train.amp');
    await press(stdin, KEY.enter);
    await until(lastFrame, (f) => /train\.amp\s+false/.test(f));
  });

  it('w saves the config and t starts training with it', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, (f) => f.includes('presets: demo'));
    await press(stdin, 'p');
    await find(stdin, 'train.epochs');
    await typeValue(stdin, '1');
    await press(stdin, KEY.enter, 'w');
    await until(lastFrame, (f) => f.includes('saved to /runs/configs/config.json'));
    const saved = core.saved[0].config as {train: {epochs: number}; model: {features: number[]}; data: {root: string}};
    expect(saved.train.epochs).toBe(1);
    expect(saved.model.features).toEqual([4, 8, 16, 32]);
    await press(stdin, 't');
    await until(lastFrame, (f) => f.includes('heartseg › train'));
    await until(() => core.started.length, (n) => n === 1);
    const launched = core.lastRun.args as {config: typeof saved};
    expect(launched.config.train.epochs).toBe(1);
    expect(launched.config.data.root).toBe('/data/la');
  });

  it('fits an 80x24 terminal', async () => {
    const {lastFrame} = mount(24);
    const frame = await until(lastFrame, (f) => f.includes('parameters'));
    expect(frame.split('\n').length).toBeLessThanOrEqual(23);
    for (const l of frame.split('\n')) expect([...l].length).toBeLessThanOrEqual(80);
  });
});

describe('Configure with keys typed faster than the screen redraws', () => {
  it('a whole chunk of keys is applied in order, each to whoever is listening at that point', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, (f) => f.includes('presets: demo'));
    // One write: open the find prompt, type into it, jump, edit, erase three characters, type, accept.
    stdin.write('/train.epochs\r\r\u007f\u007f\u007f7\r');
    const frame = await until(lastFrame, (f) => /train\.epochs\s+7\b/.test(f) && f.includes('enter edit'), 10_000);
    expect(frame).not.toContain('find field');
  });
});
