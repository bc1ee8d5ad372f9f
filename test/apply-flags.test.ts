// evaluate, predict and inspect take the contract's apply flags (--normalization, --spacing, --threshold,
// --postprocess, --use) and hand them to the real engine, which reports each value's source.
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {applyArgs, applyFlags, applyFlagValues} from '../src/core/config-flags.js';
import {CONTRACT} from '../src/core/generated/contract.js';
import {cli, enginePython, ensureBuilt, testEnv} from './reliability/cli.js';

describe('the apply flags come from the contract', () => {
  it('has one flag per apply key, named by the schema', () => {
    expect(applyFlags().map((f) => f.key).sort()).toEqual([...CONTRACT.apply_keys].sort());
    expect(applyFlags().map((f) => f.flag)).toContain('normalization');
  });

  it.each([
    [{normalization: 'zscore', epochs: '3'}, ['--normalization', 'zscore']],
    [{threshold: '0.3', postprocess: 'none'}, ['--threshold', '0.3', '--postprocess', 'none']],
    [{}, []],
  ])('passes on only the apply flags given: %j', (values, args) => {
    expect(applyArgs(applyFlagValues(values))).toEqual(args);
  });
});

let tmp: string;
let env: NodeJS.ProcessEnv;
let bare: string;

beforeAll(async () => {
  await ensureBuilt();
  const python = await enginePython();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-apply-'));
  env = testEnv(python, tmp);
  bare = path.join(tmp, 'bare.pth');
  await execa(python, ['-c', 'import sys, torch\nfrom heartseg.model import build_model\n'
    + 'torch.save(build_model(1, 1, [4, 8]).state_dict(), sys.argv[1])', bare],
  {env: {...env, PYTHONPATH: path.resolve('py')}, extendEnv: false, stdin: 'ignore'});
}, 120_000);

afterAll(() => rmSync(tmp, {recursive: true, force: true}));

describe('inspect with apply flags (real engine)', () => {
  const applies = async (extra: string[]) => {
    const r = await cli(['inspect', bare, '--json', ...extra], {cwd: tmp, env});
    expect(r.exitCode, r.output).toBe(0);
    return (JSON.parse(r.stdout) as {applies: {values: Record<string, unknown>; sources: Record<string, string>}}).applies;
  };

  it('a bare state_dict gets the classic conventions; a flag overrides one and says so', async () => {
    const plain = await applies([]);
    expect(plain.values['data.normalization']).toBe('minmax');
    expect(plain.sources['data.normalization']).toMatch(/assumed/);
    const over = await applies(['--normalization', 'zscore']);
    expect(over.values['data.normalization']).toBe('zscore');
    expect(over.sources['data.normalization']).toBe('overridden');
    expect(over.sources['infer.threshold']).toMatch(/assumed/);
  }, 120_000);

  it('a bad value is refused by the engine with exit 2, naming the key', async () => {
    const r = await cli(['inspect', bare, '--normalization', 'sideways'], {cwd: tmp, env});
    expect(r.exitCode, r.output).toBe(2);
    expect(r.output).toMatch(/normalization/);
  }, 120_000);
});
