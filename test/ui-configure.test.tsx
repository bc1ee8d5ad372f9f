// Configure screen: the engine's plan for the dataset first (values marked "plan" with reasons), presets, edits
// validated as you type in the engine's words, the engine's estimate following every change, save, train.
import React from 'react';
import {afterEach, describe, expect, it} from 'vitest';
import {cleanup, render} from 'ink-testing-library';
import type {Configured} from '../src/core/app/types.js';
import {getKey} from '../src/core/config.js';
import {App} from '../src/ui/root.js';
import {FakeCore, fakeEstimate} from './ui-fake-core.js';
import {KEY, press, until} from './ui-keys.js';

afterEach(() => cleanup());

function mount(core = new FakeCore(), rows = 24) {
  const app = render(<App core={core} size={{columns: 80, rows}} colour={false} initialRoute={{screen: 'configure', root: '/data/la'}} />);
  return {...app, core};
}

async function find(stdin: {write: (s: string) => void}, text: string) {
  await press(stdin, '/', ...text.split(''), KEY.enter);
}

async function typeValue(stdin: {write: (s: string) => void}, value: string, erase = 20) {
  await press(stdin, KEY.enter, ...Array(erase).fill(KEY.backspace), ...value.split(''));
}

const launched = (core: FakeCore) => (core.lastRun.args as {configured: Configured}).configured;
const planned = (f: string) => f.includes('estimate:') && /data\.patch\s+32,64,80\s+plan/.test(f);

describe('Configure', () => {
  it("starts from the engine's plan for the dataset: its values marked plan, with reasons, and its estimate", async () => {
    const {lastFrame, core} = mount();
    const frame = await until(lastFrame, planned);
    expect(core.planned).toEqual(['/data/la']);
    expect(frame).toMatch(/model\.features\s+16,32,64\s+plan/);
    expect(frame).toMatch(/train\.epochs\s+21\s+plan/);
    expect(frame).toMatch(/data\.root\s+\/data\/la\s+user/);
    expect(frame).not.toContain('64,128,128');
    expect(frame).toContain('plan (cpu: Fake CPU)');
    expect(frame).toContain('estimate: 112,000 parameters'); // 1000 x (16 + 32 + 64) from the fake cost model
  });

  it('estimates only what is shown: not the defaults while planning, and a pending answer reads "updating"', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    class SlowCore extends FakeCore {
      override estimate = async (config: Record<string, unknown>) => {
        this.estimated.push(config);
        await gate;
        return fakeEstimate(config);
      };
    }
    const {lastFrame, core} = mount(new SlowCore());
    const frame = await until(lastFrame, (f) => /data\.patch\s+32,64,80\s+plan/.test(f));
    expect(frame).not.toMatch(/estimate: \d/);
    await until(lastFrame, () => core.estimated.length > 0);
    expect(core.estimated.map((c) => getKey(c, 'data.patch'))).toEqual([[32, 64, 80]]); // the plan's, never the defaults'
    release();
    await until(lastFrame, (f) => f.includes('estimate: 112,000 parameters') && !f.includes('updating'));
  });

  it("shows the plan's reason for the field under the cursor", async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, planned);
    await press(stdin, KEY.down, KEY.down);
    await until(lastFrame, (f) => f.includes('plan: covers 54% of the median case'));
  });

  it('an edit re-estimates; a value of the wrong type is refused in the engine\'s words', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, planned);
    const asked = core.estimated.length;
    await find(stdin, 'model.features');
    await typeValue(stdin, '8,16');
    await press(stdin, KEY.enter);
    let frame = await until(lastFrame, (f) => f.includes('estimate: 24,000 parameters'));
    expect(frame).toMatch(/model\.features\s+8,16\s+user/);
    expect(core.estimated.length).toBeGreaterThan(asked);
    await find(stdin, 'train.epochs');
    await typeValue(stdin, 'x');
    await until(lastFrame, (f) => f.includes('train.epochs: got "x", expected an integer >= 1'));
    await press(stdin, KEY.enter); // refused: still editing
    frame = await until(lastFrame, (f) => f.includes('enter accept'));
    await press(stdin, KEY.escape);
    frame = await until(lastFrame, (f) => f.includes('enter edit'));
    expect(frame).toMatch(/train\.epochs\s+21\s+plan/);
  });

  it("the engine's whole-config checks (patch against depth) block training until fixed", async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, planned);
    await find(stdin, 'model.features');
    await typeValue(stdin, '4,8,16,32,64,128');
    await press(stdin, KEY.enter);
    await until(lastFrame, (f) => f.includes('expected sizes >= 64'));
    await press(stdin, 't');
    await until(lastFrame, (f) => f.includes('before training'));
    expect(core.started).toHaveLength(0);
  });

  it('p cycles presets (replacing the plan, as --preset does), and back to the plan', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, planned);
    await press(stdin, 'p');
    let frame = await until(lastFrame, (f) => f.includes('preset demo ·'));
    await press(stdin, 'a'); // every field
    frame = await until(lastFrame, (f) => /model\.features\s+4,8,16,32\s+preset/.test(f) || f.includes('a set only'));
    await find(stdin, 'model.features');
    frame = await until(lastFrame, (f) => /model\.features\s+4,8,16,32\s+preset/.test(f));
    await press(stdin, 'p', 'p');
    frame = await until(lastFrame, (f) => f.includes('plan (cpu: Fake CPU)'));
    expect(frame).toMatch(/model\.features\s+16,32,64\s+plan/);
  });

  it('a preset needs no plan: chosen while the engine still plans, it is estimated and t trains it at once', async () => {
    class NeverPlans extends FakeCore {
      override plan = () => new Promise<never>(() => undefined);
    }
    const {lastFrame, stdin, core} = mount(new NeverPlans());
    await until(lastFrame, (f) => f.includes('planning…'));
    await press(stdin, 'p');
    await until(lastFrame, (f) => f.includes('preset demo ·') && /estimate: [\d,]+ parameters/.test(f));
    await press(stdin, 't');
    await until(() => core.started.length, (n) => n === 1);
    expect(launched(core).layers.preset).toBe('demo');
    expect(launched(core).sources['model.features']).toBe('preset');
  });

  it('t while the engine still checks the config is remembered: training starts with that config when it answers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    class SlowCore extends FakeCore {
      override estimate = async (config: Record<string, unknown>) => {
        await gate;
        return fakeEstimate(config);
      };
    }
    const {lastFrame, stdin, core} = mount(new SlowCore());
    await until(lastFrame, (f) => /data\.patch\s+32,64,80\s+plan/.test(f));
    await press(stdin, 't');
    await until(lastFrame, (f) => f.includes('training starts when it answers'));
    expect(core.started).toHaveLength(0);
    release();
    await until(() => core.started.length, (n) => n === 1);
    expect(getKey(launched(core).config, 'data.patch')).toEqual([32, 64, 80]);
  });

  it('when planning fails it says why and starts from the defaults', async () => {
    const {lastFrame} = mount(new FakeCore({plan: null}));
    const frame = await until(lastFrame, (f) => f.includes('plan unavailable'));
    expect(frame).toContain('no image for this label');
  });

  it('w saves and t trains exactly the config shown', async () => {
    const {lastFrame, stdin, core} = mount();
    await until(lastFrame, planned);
    await find(stdin, 'train.epochs');
    await typeValue(stdin, '3');
    await press(stdin, KEY.enter, 'w');
    await until(lastFrame, (f) => f.includes('saved to /runs/configs/config.json'));
    expect(getKey(core.saved[0].config, 'train.epochs')).toBe(3);
    await until(lastFrame, (f) => f.includes('estimate:') && !f.includes('(updating)'));
    await press(stdin, 't');
    await until(lastFrame, (f) => f.includes('heartseg › train'));
    await until(() => core.started.length, (n) => n === 1);
    const c = launched(core);
    expect(getKey(c.config, 'train.epochs')).toBe(3);
    expect(getKey(c.config, 'data.patch')).toEqual([32, 64, 80]);
    expect(c.sources['data.patch']).toBe('plan');
    expect(c.config).toEqual(core.saved[0].config);
  });

  // from home, so that esc has somewhere to go back to
  async function fromHome() {
    const app = render(<App core={new FakeCore()} size={{columns: 80, rows: 24}} colour={false} />);
    await until(app.lastFrame, (f) => f.includes('torch'));
    await press(app.stdin, 'c');
    await until(app.lastFrame, planned);
    return app;
  }

  it('esc with unsaved edits asks once before leaving; with none (or once saved) it leaves at once', async () => {
    const {lastFrame, stdin} = await fromHome();
    await find(stdin, 'train.epochs');
    await typeValue(stdin, '3');
    await press(stdin, KEY.enter, KEY.escape);
    let frame = await until(lastFrame, (f) => f.includes('the edits are not saved'));
    expect(frame).toContain('heartseg › configure');
    expect(frame).toMatch(/train\.epochs\s+3\s+user/); // nothing dropped yet
    await press(stdin, 'w');
    await until(lastFrame, (f) => f.includes('saved to'));
    await press(stdin, KEY.escape);
    frame = await until(lastFrame, (f) => !f.includes('heartseg › configure'));
    expect(frame).toContain('heartseg › home');
  });

  it('an edit after the question asks again', async () => {
    const {lastFrame, stdin} = await fromHome();
    await find(stdin, 'train.epochs');
    await typeValue(stdin, '3');
    await press(stdin, KEY.enter, KEY.escape);
    await until(lastFrame, (f) => f.includes('the edits are not saved'));
    await typeValue(stdin, '4');
    await press(stdin, KEY.enter);
    await until(lastFrame, (f) => /train\.epochs\s+4\s+user/.test(f));
    await press(stdin, KEY.escape);
    await until(lastFrame, (f) => f.includes('the edits are not saved'));
    expect(lastFrame()).toContain('heartseg › configure');
    await press(stdin, KEY.escape);
    await until(lastFrame, (f) => f.includes('heartseg › home'));
  });

  it('fits an 80x24 terminal', async () => {
    const {lastFrame} = mount();
    const frame = await until(lastFrame, planned);
    expect(frame.split('\n').length).toBeLessThanOrEqual(23);
    for (const l of frame.split('\n')) expect([...l].length).toBeLessThanOrEqual(80);
  });
});

describe('Configure with keys typed faster than the screen redraws', () => {
  it('a whole chunk of keys is applied in order, each to whoever is listening at that point', async () => {
    const {lastFrame, stdin} = mount();
    await until(lastFrame, planned);
    stdin.write('/train.epochs\r\r\u007f\u007f\u007f7\r');
    const frame = await until(lastFrame, (f) => /train\.epochs\s+7\s+user/.test(f) && f.includes('enter edit'), 10_000);
    expect(frame).not.toContain('find field');
  });
});
