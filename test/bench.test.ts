// heartseg bench from the front: the flags reach the engine's suite, which owns results.json (ratios, merging, the
// table); a --smoke run of the analyze and data_sampling lines writes well-formed lines. Timings are never asserted.
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterEach, describe, expect, it} from 'vitest';
import {runCli} from '../src/cli.js';
import {engineEnv, resolvePython} from '../src/core/python.js';

const repo = path.resolve(__dirname, '..');
const tmps: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'hs-bench-'));
  tmps.push(d);
  return d;
};
afterEach(() => {
  while (tmps.length) rmSync(tmps.pop()!, {recursive: true, force: true});
});
const python = await resolvePython().then(p => p.path, () => null);

async function bench(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = repo) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['bench', ...argv], {stdout: {write: s => out.push(s)}, stderr: {write: s => err.push(s)}, env, cwd}, false);
  return {code, out: out.join(''), err: err.join('')};
}

describe.skipIf(!python)('heartseg bench', () => {
  it.each([
    [['--lines', 'bogus'], /unknown line 'bogus'/],
    [['--skip', 'nope'], /unknown line 'nope'/],
    [['--frobnicate'], /frobnicate/],
    [['--repeat', '0', '--lines', 'train_step'], /--repeat: expected a whole number >= 1/],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const r = await bench(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message as RegExp);
  });

  it('--data must be a dataset, and nothing is written', async () => {
    const dir = tmp();
    const r = await bench(['--data', dir, '--lines', 'analyze', '--out', path.join(dir, 'r.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not a Decathlon-style dataset/);
    expect(existsSync(path.join(dir, 'r.json'))).toBe(false);
  });

  it('--smoke measures analyze and data_sampling into one results.json the engine checks line by line', async () => {
    const dir = tmp();
    const out = path.join(dir, 'bench', 'results.json');
    const env = {...process.env, HEARTSEG_CACHE: path.join(dir, 'cache'), OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1'};
    const r = await bench(['--smoke', '--lines', 'data_sampling,analyze', '--out', out], env, dir);
    expect(r.code, r.err).toBe(0);
    const body = JSON.parse(readFileSync(out, 'utf8')) as {results: Array<{name: string}>};
    expect(body.results.map(x => x.name).sort()).toEqual(['analyze', 'data_sampling']);
    // the engine's own check (results.check) judges every line: no TypeScript copy of the ratio rule
    const check = await execa(python!, ['-c', 'import json,sys; from heartseg.bench import results; '
      + 'b = json.load(open(sys.argv[1])); print(json.dumps([results.check(r) for r in b["results"]]))', out], {env: engineEnv(env)});
    expect(JSON.parse(check.stdout)).toEqual([[], []]);
    expect(r.out).toMatch(/^line\s+ours/);
    expect(r.out).toContain('analyze');
  }, 600_000);
});
