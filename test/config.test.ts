import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {configFields, defaultConfig, fieldSchema, flatten, parseFieldText, validateConfig} from '../src/core/config.js';
import {configFlags, flagOverrides, type FlagValues, listPresets, parseFlagValue} from '../src/core/config-flags.js';
import {configure} from '../src/core/app/configure.js';
import {engineEnv, resolvePython} from '../src/core/python.js';

/** The core's configure from flag values (what train and slurm do); throws the problems as one message. */
function fromFlags(o: {preset?: string; file?: string; flags: FlagValues; set?: Record<string, unknown>}): any {
  const c = configure({preset: o.preset, file: o.file, edits: {...flatten(flagOverrides(o.flags)), ...(o.set ?? {})}});
  if (c.problems.length) throw new Error(c.problems.join('; '));
  return c.config;
}

let python: string | undefined;
let skipReason = '';
beforeAll(async () => {
  try {
    python = (await resolvePython()).path;
  } catch (e) {
    skipReason = (e as Error).message;
  }
});

async function engine(args: string[]) {
  return execa(python!, ['-m', 'heartseg', ...args], {env: engineEnv(), reject: false});
}

const field = (key: string) => configFields().find(f => f.key === key)!;
const flag = (name: string) => configFlags().find(f => f.flag === name)!;

describe('the config comes from the engine (schema/config.schema.json), not from a copy', () => {
  it('has the defaults `python -m heartseg config --defaults` prints', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${skipReason}`);
    const r = await engine(['config', '--defaults']);
    expect(r.exitCode).toBe(0);
    expect(defaultConfig()).toEqual(JSON.parse(String(r.stdout)));
  });

  it('describes, bounds and flags each field as its schema says', () => {
    expect(field('train.epochs')).toMatchObject({kind: 'integer', flag: 'epochs', resume: true, expected: 'an integer >= 1'});
    expect(field('data.patch')).toMatchObject({kind: 'list', item: 'integer', flag: 'patch', resume: false});
    expect(field('optim.optimizer')).toMatchObject({kind: 'enum', options: ['adamw', 'sgd']});
    expect(field('data.spacing')).toMatchObject({kind: 'mixed', nullable: true});
    expect(configFields().every(f => f.description && f.expected)).toBe(true);
    expect(fieldSchema('train.nope')).toBeUndefined();
  });
});

describe('validation names the key, the value and what was expected, as the engine does', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{train: {epochs: 0}}, 'train.epochs: got 0, expected an integer >= 1'],
    [{train: {epochs: 2.5}}, 'train.epochs: got 2.5, expected an integer >= 1'],
    [{data: {patch: [4, 64, 64]}}, 'data.patch: got [4, 64, 64], expected three sizes >= 8 (z, y, x in voxels)'],
    [{data: {patch: [32, 'a', 32]}}, 'data.patch: got [32, "a", 32], expected three sizes >= 8 (z, y, x in voxels)'],
    [{data: {spacing: [1, 1]}}, "data.spacing: got [1, 1], expected three positive numbers (z, y, x in mm), 'native' or null (median)"],
    [{optim: {optimizer: 'adam'}}, 'optim.optimizer: got "adam", expected one of adamw, sgd'],
    [{optim: {lr: -1}}, 'optim.lr: got -1, expected a positive number'],
    [{augment: {flip: 'yes'}}, 'augment.flip: got "yes", expected true/false'],
    [{model: {features: [16]}}, 'model.features: got [16], expected at least two positive channel counts'],
    [{infer: {overlap: 1}}, 'infer.overlap: got 1, expected a number in [0, 1)'],
    [{infer: {tta: 3}}, 'infer.tta: got 3, expected 1, 2, 4 or 8'],
    [{trian: {}}, 'unknown config key trian (known: augment, data, infer, model, name, optim, train)'],
  ];

  it.each(cases)('%j', (input, message) => {
    const r = validateConfig(input);
    expect(r.ok ? [] : r.problems).toEqual([message]);
  });

  it('words every refusal exactly as `python -m heartseg config --check` does', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${skipReason}`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hs-cfg-'));
    try {
      for (const [bad, message] of [...cases, [{train: {epoch: 3}}, ''] as [Record<string, unknown>, string]]) {
        const file = path.join(dir, 'c.json');
        writeFileSync(file, JSON.stringify(bad));
        const r = await engine(['config', '--check', file]);
        expect(r.exitCode).toBe(2);
        const front = validateConfig(bad);
        expect(front.ok).toBe(false);
        if (!front.ok) expect(String(r.stderr)).toContain(front.problems[0]);
        if (message) expect(String(r.stderr)).toContain(message);
      }
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  }, 600_000); // one engine process per case: seconds each on a busy 2-core machine
});

describe('flags come from the schema (x-flag) and override presets and config files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hs-flags-'));
  });
  afterAll(() => rmSync(dir, {recursive: true, force: true}));

  it.each([
    ['patch', '64,128,128', [64, 128, 128]],
    ['patch', '32, 64', [32, 64]],
    ['epochs', '12', 12],
    ['lr', '3e-4', 3e-4],
    ['lr', 'abc', 'abc'],
    ['spacing', 'auto', null],
    ['spacing', 'native', 'native'],
    ['spacing', '1.25,1.25,1.25', [1.25, 1.25, 1.25]],
    ['device', 'cuda:1', 'cuda:1'],
    ['tta', '8', 8],
    ['postprocess', 'none', []],
    ['postprocess', 'largest,fill_holes', ['largest', 'fill_holes']],
    ['fold', 'all', 'all'],
    ['fold', '2', 2],
  ] as const)('--%s %j -> %j', (name, text, value) => {
    expect(parseFlagValue(flag(name), text)).toEqual(value);
  });

  it('parses form text with the same parser', () => {
    expect(parseFieldText(field('augment.flip'), 'off')).toEqual({ok: true, value: false});
    expect(parseFieldText(field('data.spacing'), '')).toEqual({ok: true, value: null});
  });

  it('applies defaults < preset < config file < flags', () => {
    const file = path.join(dir, 'cfg.json');
    writeFileSync(file, JSON.stringify({train: {epochs: 7, iters_per_epoch: 9}, optim: {lr: 0.01}}));
    const presets = listPresets();
    const cfg = fromFlags({preset: presets.includes('demo') ? 'demo' : undefined, file,
      flags: {epochs: '3', patch: '16,32,32', 'no-amp': true}, set: {'data.root': '/data', name: 'x'}});
    expect(cfg.train.epochs).toBe(3);
    expect(cfg.train.iters_per_epoch).toBe(9);
    expect(cfg.optim.lr).toBe(0.01);
    expect(cfg.data.patch).toEqual([16, 32, 32]);
    expect(cfg.train.precision).toBe('fp32');
    expect(cfg.data.root).toBe('/data');
    expect(cfg.train.seed).toBe(0);
  });

  it('reports every bad flag value with its key', () => {
    expect(() => fromFlags({flags: {epochs: 'ten', lr: '0', optimizer: 'adam'}})).toThrow(
      /optim\.optimizer: got "adam".*optim\.lr: got 0, expected a positive number.*train\.epochs: got "ten", expected an integer >= 1/);
  });

  it('names the file and the key for a bad config file, and unknown presets', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({data: {batch: 0}}));
    expect(() => fromFlags({file, flags: {}})).toThrow(`${file}: data.batch: got 0, expected an integer >= 1`);
    writeFileSync(file, '{"data": ');
    expect(() => fromFlags({file, flags: {}})).toThrow(/not valid JSON/);
    expect(() => fromFlags({preset: 'no-such-preset', flags: {}})).toThrow(/no preset named "no-such-preset"/);
  });

  it('turns flags into a partial config and leaves unset keys out', () => {
    expect(flagOverrides({epochs: '5', amp: true, 'val-every': '2'})).toEqual({train: {epochs: 5, precision: 'auto', val_every: 2}});
  });

  it('accepts every preset that ships with the engine', () => {
    for (const name of listPresets()) expect(() => fromFlags({preset: name, flags: {}})).not.toThrow();
  });
});
