// The real engine through the built command: tiny synthetic data, a 1-epoch run, Ctrl-C and --resume, the other commands.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {defaultConfig} from '../src/core/config.js';
import {parseEventLine} from '../src/core/events.js';
import {resolvePython} from '../src/core/python.js';

const repo = path.resolve(__dirname, '..');
const bin = path.join(repo, 'dist', 'cli.js');
const fixtures = path.resolve(repo, '..', 'shared', 'fixtures');
const TINY = ['--features', '4,8', '--patch', '16,32,32', '--batch', '1', '--spacing', 'auto', '--val-every', '1'];
const env = {OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1'};

let dir: string;
let skip = '';

function notImplemented(command: string): boolean {
  const file = path.join(repo, 'py', 'heartseg', 'commands', `${command}.py`);
  return !existsSync(file) || readFileSync(file, 'utf8').includes('is not implemented yet');
}

const heartseg = (args: string[], opts: {cwd?: string} = {}) =>
  execa(process.execPath, [bin, ...args, '--ci'], {cwd: opts.cwd ?? dir, reject: false, env});

beforeAll(async () => {
  if (!existsSync(bin)) return void (skip = 'dist/cli.js is not built (npm run build)');
  try {
    await resolvePython();
  } catch (e) {
    return void (skip = `no Python for the engine: ${(e as Error).message}`);
  }
  const missing = ['synth', 'train', 'inspect'].filter(notImplemented);
  if (missing.length) return void (skip = `the engine's ${missing.join(', ')} is not implemented yet`);
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-e2e-'));
  const r = await heartseg(['synth', 'data', '--cases', '4', '--shape', '16,32,32', '--seed', '3']);
  if (r.exitCode !== 0) skip = `synth failed: ${r.stderr}`;
});
afterAll(() => dir && rmSync(dir, {recursive: true, force: true}));

function events(runDir: string) {
  return readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').split('\n').filter(l => l.trim()).map(l => {
    const r = parseEventLine(l);
    if (!r.ok) throw new Error(`invalid event in events.jsonl: ${r.error}: ${l}`);
    return r.event;
  });
}

describe('heartseg with the real engine', () => {
  it('a 1-epoch training leaves a complete run folder', async ctx => {
    if (skip) return ctx.skip(skip);
    const r = await heartseg(['train', 'data', '--name', 'one', '--epochs', '1', '--iters', '2', ...TINY]);
    expect(r.exitCode).toBe(0);
    // Without --preset/--config the run starts from the engine's plan, which says why for each key it sets.
    const errLines = String(r.stderr).trim().split('\n');
    expect(errLines.length).toBeGreaterThan(3);
    for (const line of errLines) expect(line).toMatch(/^plan: [a-z_]+\.[a-z_]+: \S/);
    expect(r.stdout).toMatch(/^epoch 1\/1 +loss \d/m);
    const run = path.join(dir, 'runs', 'one');
    const config = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
    for (const section of Object.keys(defaultConfig())) expect(Object.keys(config)).toContain(section);
    expect(config.model.features).toEqual([4, 8]); // flags win over the plan
    expect(config.train.iters_per_epoch).toBe(2);
    expect(config.train.device).toBe('cpu'); // the plan's choice on this machine; the plain default is 'auto'
    expect(config.data.root).toBe(path.join(dir, 'data'));
    const ev = events(run);
    expect(ev.at(-1)).toMatchObject({type: 'run_end', status: 'completed', exit_code: 0});
    expect(ev.filter(e => e.type === 'epoch_end')).toHaveLength(1);
    expect(readFileSync(path.join(run, 'engine.log'), 'utf8').length).toBeGreaterThan(0);
    expect(readdirSync(path.join(run, 'tensorboard')).some(f => f.startsWith('events.out.tfevents'))).toBe(true);
    expect(existsSync(path.join(run, 'checkpoints', 'last.pt'))).toBe(true);
    expect(existsSync(path.join(run, 'checkpoints', 'best.pt'))).toBe(true);
  }, 600_000); // it plans first: minutes on a busy 2-core machine

  it('Ctrl-C mid-run exits 130 with a loadable last.pt, and --resume completes the run', async ctx => {
    if (skip) return ctx.skip(skip);
    const run = path.join(dir, 'runs', 'stopped');
    const child = execa(process.execPath, [bin, 'train', 'data', '--name', 'stopped', '--epochs', '40', '--iters', '3', ...TINY, '--ci'],
      {cwd: dir, reject: false, env});
    let seen = '';
    await new Promise<void>(resolve => child.stdout!.on('data', (b: Buffer) => {
      seen += b.toString();
      if (/^epoch +1\/40/m.test(seen)) resolve();
    }));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(seen).toMatch(/resume with: heartseg train --resume \/\S+\/runs\/stopped$/m); // absolute, whatever the cwd
    const end = events(run).at(-1);
    expect(end).toMatchObject({type: 'run_end', status: 'interrupted', exit_code: 130});
    const stoppedAt = end?.type === 'run_end' ? end.epoch ?? 0 : 0;
    expect(stoppedAt).toBeGreaterThanOrEqual(1);

    const inspect = await heartseg(['inspect', path.join(run, 'checkpoints', 'last.pt'), '--json']);
    expect(inspect.exitCode).toBe(0);
    expect(JSON.parse(String(inspect.stdout))).toMatchObject({epoch: stoppedAt, compatible: true});

    const resumed = await heartseg(['train', '--resume', 'runs/stopped', '--epochs', String(stoppedAt + 1)]);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`resuming after epoch ${stoppedAt}`));
    expect(events(run).at(-1)).toMatchObject({type: 'run_end', status: 'completed', epoch: stoppedAt + 1});
  }, 600_000);

  it('refusals from the engine exit 2 with one line and create no run folder', async ctx => {
    if (skip) return ctx.skip(skip);
    mkdirSync(path.join(dir, 'empty'), {recursive: true});
    const r = await heartseg(['train', 'empty', '--name', 'never', ...TINY]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^heartseg train: \/\S+\/empty: /);
    expect(existsSync(path.join(dir, 'runs', 'never'))).toBe(false);
  });

  it('evaluates, predicts and scores with the trained run', async ctx => {
    if (skip) return ctx.skip(skip);
    if (['evaluate', 'predict', 'score'].some(notImplemented)) return ctx.skip('evaluate/predict/score not implemented yet');
    const ev = await heartseg(['evaluate', 'runs/one', '--no-figures']);
    expect(ev.exitCode).toBe(0);
    expect(ev.stdout).toMatch(/^case \S+ \(1\/1\) /m);
    expect(existsSync(path.join(dir, 'runs', 'one', 'eval', 'summary.json'))).toBe(true);
    const pr = await heartseg(['predict', 'runs/one', 'data/imagesTr', '--out', 'pred']);
    expect(pr.exitCode).toBe(0);
    expect(readdirSync(path.join(dir, 'pred')).filter(f => f.endsWith('.nii.gz'))).toHaveLength(4);
    const sc = await heartseg(['score', 'pred', 'data/labelsTr', '--out', 'scores', '--json']);
    expect(sc.exitCode).toBe(0);
    expect(JSON.parse(String(sc.stdout))).toMatchObject({command: 'score', status: 'completed'});
    expect(existsSync(path.join(dir, 'scores', 'metrics.csv'))).toBe(true);
  });

  it('lists and replays runs', async ctx => {
    if (skip) return ctx.skip(skip);
    const runs = await heartseg(['runs', '--json']);
    const names = JSON.parse(String(runs.stdout)).runs.map((r: {name: string; status: string}) => `${r.name}:${r.status}`);
    expect(names).toEqual(expect.arrayContaining(['one:completed', 'stopped:completed']));
    const watch = await heartseg(['watch', 'runs/one']);
    expect(watch.exitCode).toBe(0);
    expect(watch.stdout).toMatch(/^epoch 1\/1 /m);
  });
});

describe('inspect and untrusted checkpoints', () => {
  it('reports the seed tiny checkpoint: features [4, 8, 16, 32] and 353,949 parameters', async ctx => {
    if (skip) return ctx.skip(skip);
    if (!existsSync(fixtures)) return ctx.skip('../shared/fixtures is not here');
    const r = await heartseg(['inspect', path.join(fixtures, 'seed_tiny_state_dict.pth'), '--json']);
    expect(r.exitCode).toBe(0);
    const info = JSON.parse(String(r.stdout));
    expect(info.architecture.features).toEqual([4, 8, 16, 32]);
    expect(info.parameters).toBe(353949);
  });

  it('refuses the checkpoint that would run code, and no file appears', async ctx => {
    if (skip) return ctx.skip(skip);
    if (!existsSync(fixtures)) return ctx.skip('../shared/fixtures is not here');
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'hs-untrusted-'));
    try {
      const r = await heartseg(['inspect', path.join(fixtures, 'untrusted_code_checkpoint.pth')], {cwd});
      expect(r.exitCode).toBe(2);
      expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/refused/);
      expect(existsSync(path.join(cwd, 'HEARTSEG_PICKLE_EXECUTED'))).toBe(false);
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, {recursive: true, force: true});
    }
  });
});
