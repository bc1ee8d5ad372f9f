import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {CHOICES, configFields, defaultConfig, trainSchema, validateConfig} from '../src/core/config.js';
import {buildConfig, flagOverrides, listPresets, parseFlagValue} from '../src/core/config-flags.js';
import {engineEnv, resolvePython} from '../src/core/python.js';

const configPy = path.resolve(__dirname, '..', 'py', 'heartseg', 'config.py');
let python: string | undefined;
let skipReason = '';
beforeAll(async () => {
  try {
    python = (await resolvePython()).path;
  } catch (e) {
    skipReason = (e as Error).message;
  }
});

async function engine(args: string[], code = 'import sys') {
  return execa(python!, args.length ? ['-m', 'heartseg', ...args] : ['-c', code], {env: engineEnv(), reject: false});
}

describe('config schema mirrors py/heartseg/config.py', () => {
  it('has the same defaults as `python -m heartseg config --defaults`', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${skipReason}`);
    const r = await engine(['config', '--defaults']);
    expect(r.exitCode).toBe(0);
    expect(defaultConfig()).toEqual(JSON.parse(String(r.stdout)));
  });

  it('has the same choices as CHOICES in config.py', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${skipReason}`);
    const r = await engine([], 'import json; from heartseg.config import CHOICES; print(json.dumps(CHOICES))');
    expect(JSON.parse(String(r.stdout))).toEqual(JSON.parse(JSON.stringify(CHOICES)));
  });

  it("describes every field with the field's docstring from config.py", () => {
    const src = readFileSync(configPy, 'utf8');
    const docs = new Map<string, string>();
    let section = '';
    const sectionOf: Record<string, string> = {DataConfig: 'data', AugmentConfig: 'augment', ModelConfig: 'model',
      OptimConfig: 'optim', TrainConfig: 'train', InferConfig: 'infer', Config: ''};
    const lines = src.split('\n');
    lines.forEach((line, i) => {
      const cls = /^class (\w+)/.exec(line);
      if (cls) section = sectionOf[cls[1]] ?? '?';
      const field = /^ {4}(\w+): .*=/.exec(line);
      const doc = /^\s+"""(.*)"""$/.exec(lines[i + 1] ?? '');
      if (field && doc && section !== '?') docs.set(section ? `${section}.${field[1]}` : field[1], doc[1]);
    });
    const fields = configFields();
    expect(fields.map(f => f.key).sort()).toEqual([...docs.keys()].filter(k => !['data', 'augment', 'model', 'optim', 'train', 'infer'].includes(k)).sort());
    for (const f of fields) expect(f.description, f.key).toBe(docs.get(f.key));
  });
});

describe('validation names the key, the value and what was expected', () => {
  it.each([
    [{train: {epochs: 0}}, 'train.epochs: got 0, expected an integer >= 1'],
    [{train: {epochs: 2.5}}, 'train.epochs: got 2.5, expected integer'],
    [{data: {patch: [4, 64, 64]}}, 'data.patch: got [4,64,64], expected three sizes >= 8'],
    [{data: {patch: [32, 'a', 32]}}, 'data.patch[1]: got "a", expected integer'],
    [{data: {spacing: [1, 1]}}, 'data.spacing: got [1,1], expected null or three positive numbers'],
    [{optim: {optimizer: 'adam'}}, 'optim.optimizer: got "adam", expected one of adamw, sgd'],
    [{optim: {lr: -1}}, 'optim.lr: got -1, expected a positive number'],
    [{augment: {flip: 'yes'}}, 'augment.flip: got "yes", expected true/false'],
    [{augment: {scale_range: [1.2, 0.8]}}, 'augment.scale_range: got [1.2,0.8], expected [low, high] with 0 < low <= high'],
    [{model: {features: [16]}}, 'model.features: got [16], expected at least two positive channel counts'],
    [{infer: {overlap: 1}}, 'infer.overlap: got 1, expected a number in [0, 1)'],
    [{train: {epoch: 3}}, `unknown config key train.epoch (known: ${Object.keys(trainSchema.shape).sort().join(', ')})`],
    [{trian: {}}, 'unknown config key trian (known: augment, data, infer, model, name, optim, train)'],
  ])('%j', (input, message) => {
    const r = validateConfig(input);
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.problems).toEqual([message]);
  });

  it('agrees with the engine on which configs are invalid', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${skipReason}`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hs-cfg-'));
    try {
      for (const [bad, key] of [[{train: {epochs: 0}}, 'train.epochs'], [{optim: {schedule: 'linear'}}, 'optim.schedule'],
        [{data: {patch: [4, 64, 64]}}, 'data.patch']] as const) {
        const file = path.join(dir, 'c.json');
        writeFileSync(file, JSON.stringify(bad));
        const r = await engine(['config', '--check', file]);
        expect(r.exitCode).toBe(2);
        expect(String(r.stderr)).toContain(key);
        expect(validateConfig(bad).ok).toBe(false);
      }
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });
});

describe('flags override presets and config files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hs-flags-'));
  });
  afterAll(() => rmSync(dir, {recursive: true, force: true}));

  it.each([
    ['ints', '64,128,128', [64, 128, 128]],
    ['ints', '32, 64', [32, 64]],
    ['int', '12', 12],
    ['number', '3e-4', 3e-4],
    ['number', 'abc', 'abc'],
    ['spacing', 'auto', null],
    ['spacing', '1.25,1.25,1.25', [1.25, 1.25, 1.25]],
    ['string', 'cuda:1', 'cuda:1'],
  ] as const)('%s %j -> %j', (kind, text, value) => {
    expect(parseFlagValue(kind, text)).toEqual(value);
  });

  it('applies defaults < preset < config file < flags', () => {
    const file = path.join(dir, 'cfg.json');
    writeFileSync(file, JSON.stringify({train: {epochs: 7, iters_per_epoch: 9}, optim: {lr: 0.01}}));
    const presets = listPresets();
    const cfg = buildConfig({preset: presets.includes('demo') ? 'demo' : undefined, configFile: file,
      flags: {epochs: '3', patch: '16,32,32', 'no-amp': true}, set: {'data.root': '/data', name: 'x'}});
    expect(cfg.train.epochs).toBe(3);
    expect(cfg.train.iters_per_epoch).toBe(9);
    expect(cfg.optim.lr).toBe(0.01);
    expect(cfg.data.patch).toEqual([16, 32, 32]);
    expect(cfg.train.amp).toBe(false);
    expect(cfg.data.root).toBe('/data');
    expect(cfg.train.seed).toBe(0);
  });

  it('reports every bad flag value with its key', () => {
    expect(() => buildConfig({flags: {epochs: 'ten', lr: '0', optimizer: 'adam'}})).toThrow(
      /optim\.optimizer: got "adam".*optim\.lr: got 0, expected a positive number.*train\.epochs: got "ten", expected integer/);
  });

  it('names the file and the key for a bad config file, and unknown presets', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({data: {batch: 0}}));
    expect(() => buildConfig({configFile: file, flags: {}})).toThrow(`${file}: data.batch: got 0, expected an integer >= 1`);
    writeFileSync(file, '{"data": ');
    expect(() => buildConfig({configFile: file, flags: {}})).toThrow(/not valid JSON/);
    expect(() => buildConfig({preset: 'no-such-preset', flags: {}})).toThrow(/no preset named "no-such-preset"/);
  });

  it('turns flags into a partial config and leaves unset keys out', () => {
    expect(flagOverrides({epochs: '5', amp: true, 'val-every': '2'})).toEqual({train: {epochs: 5, amp: true, val_every: 2}});
  });

  it('accepts every preset that ships with the engine', () => {
    for (const name of listPresets()) expect(() => buildConfig({preset: name, flags: {}})).not.toThrow();
  });
});
