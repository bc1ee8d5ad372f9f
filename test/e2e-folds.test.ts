// Cross-validation end to end with the real engine (issue 15): `train --folds 2` through the headless front (a line
// per fold, the cv Dice, RUN/cv/summary.json), the runs list and watch of the parent; then the job-array way: the
// script's two tasks (stand-in srun running torchrun here), and `train --resume RUN` collecting cv/.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {resolvePython} from '../src/core/python.js';

const repo = path.resolve(__dirname, '..');
const bin = path.join(repo, 'dist', 'cli.js');
const TINY = ['--features', '4,8', '--patch', '16,32,32', '--batch', '1', '--spacing', 'auto', '--val-every', '1', '--device', 'cpu', '--no-plan'];
const env = {OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1'};
let dir = '';
let skip = '';
let python = '';

const heartseg = (args: string[]) => execa(process.execPath, [bin, ...args, '--ci'], {cwd: dir, reject: false, env});

/** A job id whose rendezvous port (the script's 20000 + id % 20000) is free here. */
async function freeJobId(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const id = 1 + Math.floor(Math.random() * 19999);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false)).listen(20000 + id, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return id;
  }
  throw new Error('no free port in 20000..39999');
}

beforeAll(async () => {
  if (!existsSync(bin)) return void (skip = 'dist/cli.js is not built (npm run build)');
  try {
    python = (await resolvePython()).path;
  } catch (e) {
    return void (skip = `no Python for the engine: ${(e as Error).message}`);
  }
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-e2e-folds-'));
  const r = await heartseg(['synth', 'data', '--cases', '4', '--shape', '16,32,32', '--seed', '3']);
  if (r.exitCode !== 0) skip = `synth failed: ${r.stderr}`;
}, 300_000);
afterAll(() => dir && rmSync(dir, {recursive: true, force: true}));

describe('cross-validation with the real engine', () => {
  it('train --folds 2: a line per fold, the cv Dice, RUN/cv/summary.json; runs and watch show the parent', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const r = await heartseg(['train', 'data', '--name', 'cv', '--folds', '2', '--epochs', '1', '--iters', '2', ...TINY]);
    expect(r.exitCode, r.stderr).toBe(0);
    const run = path.join(dir, 'runs', 'cv');
    const out = String(r.stdout);
    for (const k of [0, 1]) {
      expect(out).toContain(`fold ${k}/2: training in ${path.join(run, 'folds', `fold-${k}`)}`);
      expect(out).toMatch(new RegExp(`^fold ${k}/2 completed: validation Dice \\d\\.\\d{4}$`, 'm'));
    }
    expect(out.indexOf('fold 0/2 completed')).toBeLessThan(out.indexOf('fold 1/2: training'));
    expect(out).toContain(`cross-validation: 4 cases -> ${path.join(run, 'cv')}`);
    const summary = JSON.parse(readFileSync(path.join(run, 'cv', 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({folds: 2, cases: 4});
    const dice = summary.summary['left atrium'].dice;
    const chosen = summary.postprocess.chosen.join(',') || 'none';
    expect(Object.keys(summary.postprocess.mean_dice)).toEqual(['none', 'largest', 'fill_holes', 'largest,fill_holes']);
    expect(out).toContain(`the folds' ensemble post-processes with: ${chosen} (chosen on the held-out cases)`);
    expect(out).toMatch(new RegExp(`train done in .*, 2 folds, cv Dice ${dice.mean.toFixed(3)} ± ${dice.std.toFixed(3)} \\(left atrium\\); run folder ${run}`));

    const runs = await heartseg(['runs', '--json']);
    const row = JSON.parse(String(runs.stdout)).runs.find((x: {name: string}) => x.name === 'cv');
    expect(row).toMatchObject({status: 'completed', cv: {folds: 2, done: 2}});
    expect(row.cv.dice).toBeCloseTo(dice.mean, 10);

    const watched = await heartseg(['watch', 'cv']);
    expect(watched.exitCode, watched.stderr).toBe(0);
    expect(String(watched.stdout)).toMatch(/^fold 0\/2 completed: validation Dice/m);
    expect(String(watched.stdout)).toMatch(/^fold 1\/2 completed: validation Dice/m);
    expect(String(watched.stdout)).toContain(`cross-validation: 4 cases -> ${path.join(run, 'cv')}`);
  }, 600_000);

  it('train --all: one model on every case (fold all, no validation) with final.pt; bare --folds means 5', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const r = await heartseg(['train', 'data', '--name', 'deploy', '--all', '--epochs', '1', '--iters', '2', ...TINY]);
    expect(r.exitCode, r.stderr).toBe(0);
    const run = path.join(dir, 'runs', 'deploy');
    const config = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(config.data).toMatchObject({folds: 5, fold: 'all'});
    expect(JSON.parse(readFileSync(path.join(run, 'split.json'), 'utf8'))).toMatchObject({val: []});
    expect(existsSync(path.join(run, 'checkpoints', 'final.pt'))).toBe(true);
    // a bare --folds asks for 5; this dataset has 4 cases, so the engine refuses before making the run folder
    const five = await heartseg(['train', 'data', '--name', 'five', '--folds', '--epochs', '1', ...TINY]);
    expect(five.exitCode).toBe(2);
    expect(String(five.stderr)).toContain('data.folds is 5 but the dataset has 4 case(s)');
    expect(existsSync(path.join(dir, 'runs', 'five'))).toBe(false);
    const both = await heartseg(['train', 'data', '--all', '--fold', '1', ...TINY]);
    expect(both.exitCode).toBe(2);
    expect(String(both.stderr)).toContain('--all trains one model on every case: it cannot be combined with --fold');
  }, 600_000);

  it('the job array: each task trains its fold, then train --resume RUN writes cv/', async (ctx) => {
    if (skip) return ctx.skip(skip);
    for (const sub of ['bin', 'tmp']) mkdirSync(path.join(dir, sub), {recursive: true});
    // srun stand-in: one task on this node, its own options dropped, the command run in its place
    writeFileSync(path.join(dir, 'bin', 'srun'), '#!/bin/bash\nwhile [ "${1#--}" != "$1" ]; do shift; done\nexec "$@"\n');
    writeFileSync(path.join(dir, 'bin', 'scontrol'), '#!/bin/bash\necho 127.0.0.1\n');
    chmodSync(path.join(dir, 'bin', 'srun'), 0o755);
    chmodSync(path.join(dir, 'bin', 'scontrol'), 0o755);
    writeFileSync(path.join(dir, 'small.json'), JSON.stringify({data: {patch: [16, 32, 32], batch: 1, workers: 0},
      model: {features: [4, 8]}, train: {epochs: 1, iters_per_epoch: 2, val_every: 1, device: 'cpu', threads: 1, precision: 'fp32', layout: 'contiguous'}}));
    const job = path.join(dir, 'array.sh');
    const made = await heartseg(['slurm', 'train', 'data', '--folds', '2', '--name', 'arr', '--config', 'small.json', '--cpus-per-task', '1',
      '--python', python, '--out', job]);
    expect(made.exitCode, made.stderr).toBe(0);
    const run = path.join(dir, 'runs', 'arr');
    for (const task of [1, 0]) {
      const id = await freeJobId();
      const r = await execa('bash', [job], {reject: false, env: {...env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`,
        SLURM_JOB_ID: String(id), SLURM_ARRAY_TASK_ID: String(task), SLURM_JOB_NODELIST: 'node01', TMPDIR: path.join(dir, 'tmp')}});
      expect(r.exitCode, r.stderr).toBe(0);
      expect(existsSync(path.join(run, 'folds', `fold-${task}`, 'checkpoints', 'final.pt'))).toBe(true);
    }
    expect(existsSync(path.join(run, 'cv'))).toBe(false); // no task writes it
    const collected = await heartseg(['train', '--resume', 'arr']);
    expect(collected.exitCode, collected.stderr).toBe(0);
    expect(String(collected.stdout)).toMatch(/^fold 0\/2 completed: validation Dice/m);
    expect(String(collected.stdout)).toContain(`cross-validation: 4 cases -> ${path.join(run, 'cv')}`);
    expect(JSON.parse(readFileSync(path.join(run, 'cv', 'summary.json'), 'utf8'))).toMatchObject({folds: 2, cases: 4});
  }, 600_000);
});
