// The sbatch script printed by `heartseg slurm train`, executed (issue 13, item 4): stand-ins for srun (runs its
// command once) and scontrol (`show hostnames` -> 127.0.0.1, `requeue` recorded), two torchrun ranks on the CPU
// (gloo), tiny synthetic data. A USR1 before the limit makes the training checkpoint and the job requeue itself; the
// restarted job resumes from last.pt and trains to completion.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {runCli} from '../src/cli.js';
import {resolvePython} from '../src/core/python.js';

const repo = path.resolve(__dirname, '..');
const EPOCHS = 12;
let dir = '';
let python = '';
let skip = '';
let jobId = 0;

/** A job id whose rendezvous port (the script's 20000 + id % 20000) is free here. */
async function freeJobId(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const id = 1 + Math.floor(Math.random() * 19999);
    const free = await new Promise<boolean>(resolve => {
      const s = net.createServer().once('error', () => resolve(false)).listen(20000 + id, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return id;
  }
  throw new Error('no free port in 20000..39999');
}

beforeAll(async () => {
  try {
    python = (await resolvePython()).path;
  } catch (e) {
    return void (skip = `no Python for the engine: ${(e as Error).message}`);
  }
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-slurm-exec-'));
  for (const sub of ['bin', 'tmp', 'cache']) mkdirSync(path.join(dir, sub));
  writeFileSync(path.join(dir, 'bin', 'srun'), `#!/bin/bash
# stand-in for srun: one task on this node; srun's own options dropped, the command run once in its place
while [ "\${1#--}" != "$1" ]; do shift; done
echo "srun $*" >> "$LOG"
exec "$@"
`);
  writeFileSync(path.join(dir, 'bin', 'scontrol'), `#!/bin/bash
if [ "$1 $2" = "show hostnames" ]; then echo 127.0.0.1; else echo "scontrol $*" >> "$LOG"; fi
`);
  chmodSync(path.join(dir, 'bin', 'srun'), 0o755);
  chmodSync(path.join(dir, 'bin', 'scontrol'), 0o755);
  const synth = await execa(python, ['-m', 'heartseg', 'synth', path.join(dir, 'data'), '--cases', '4', '--shape', '16', '24', '24', '--seed', '3'],
    {reject: false, env: {PYTHONPATH: path.join(repo, 'py'), OMP_NUM_THREADS: '1'}});
  if (synth.exitCode !== 0) return void (skip = `synth failed: ${synth.stderr}`);
  // tiny and fixed: no precision/layout probing, one thread per rank, a step event per step
  writeFileSync(path.join(dir, 'small.json'), JSON.stringify({
    data: {patch: [16, 16, 16], batch: 1, workers: 0, val_fraction: 0.25},
    model: {features: [4, 8]},
    train: {epochs: EPOCHS, iters_per_epoch: 2, device: 'cpu', threads: 1, precision: 'fp32', layout: 'contiguous',
      tb_image_every: 100, step_event_seconds: 0},
  }));
  jobId = await freeJobId();
}, 120_000);
afterAll(() => dir && rmSync(dir, {recursive: true, force: true}));

const runDir = () => path.join(dir, 'runs', 'cluster');
const jobFile = () => path.join(dir, 'job.sh');
const logFile = () => path.join(dir, 'slurm.log');

function events(): {type: string; [k: string]: unknown}[] {
  const file = path.join(runDir(), 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(l => l.trim()).map(l => JSON.parse(l));
}

function job() {
  return execa('bash', [jobFile()], {reject: false, env: {PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, LOG: logFile(),
    SLURM_JOB_ID: String(jobId), SLURM_JOB_NODELIST: 'node01', TMPDIR: path.join(dir, 'tmp'), HEARTSEG_CACHE: path.join(dir, 'cache')}});
}

describe('the printed sbatch script, run under stand-ins for srun and scontrol', () => {
  it('prints a script whose torchrun line carries the engine flags torchrun accepts', async ctx => {
    if (skip) return ctx.skip(skip);
    const err: string[] = [];
    const io = {stdout: {write: (_: string) => undefined}, stderr: {write: (s: string) => err.push(s)}, env: process.env, cwd: dir};
    const code = await runCli(['slurm', 'train', 'data', '--gpus-per-node', '2', '--cpus-per-task', '2', '--time', '00:10:00',
      '--name', 'cluster', '--runs-dir', 'runs', '--config', 'small.json', '--python', python, '--out', jobFile()], io, false);
    expect(code, err.join('')).toBe(0);
    const text = readFileSync(jobFile(), 'utf8');
    expect(text).toContain('-m heartseg train --config "$CONFIG" --run-dir "$TARGET"');
    expect(text).not.toMatch(/ --run "/); // torchrun's parser takes --run for an abbreviation of --run-path
  });

  it('USR1 before the limit: the ranks checkpoint, the run records one interrupted run_end, the job requeues', async ctx => {
    if (skip) return ctx.skip(skip);
    const child = job();
    let exited = false;
    void child.finally(() => (exited = true));
    // the limit comes while training is under way: after the first epoch has ended
    while (!exited && !events().some(e => e.type === 'epoch_end')) await new Promise(r => setTimeout(r, 100));
    expect(exited, 'the job ended before training started').toBe(false);
    process.kill(child.pid!, 'SIGUSR1');
    const r = await child;
    expect(r.exitCode, r.stderr).toBe(0);
    const log = readFileSync(logFile(), 'utf8');
    expect(log).toMatch(/^srun \S+ -m torch\.distributed\.run --nnodes=1 --nproc-per-node=2 --rdzv-backend=c10d --rdzv-endpoint=127\.0\.0\.1:\d+ .* -m heartseg train --config \S+ --run-dir \S+cluster$/m);
    expect(log).toContain(`scontrol requeue ${jobId}`);
    const ev = events();
    const start = ev.find(e => e.type === 'run_start')!;
    expect(start.world_size).toBe(2);
    const ends = ev.filter(e => e.type === 'run_end');
    expect(ends.map(e => [e.status, e.reason])).toEqual([['interrupted', 'SIGTERM']]);
    expect(ev.at(-1)!.type).toBe('run_end');
    expect(ends[0].epoch as number).toBeLessThan(EPOCHS);
    expect(existsSync(path.join(runDir(), 'checkpoints', 'last.pt'))).toBe(true);
    expect(existsSync(path.join(runDir(), '.lock'))).toBe(false);
  }, 600_000);

  it('the restarted job resumes from last.pt and trains to completion', async ctx => {
    if (skip) return ctx.skip(skip);
    const stopped = events().filter(e => e.type === 'run_end')[0];
    if (!stopped) return ctx.skip('the USR1 case did not run');
    const r = await job();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`heartseg: resuming ${runDir()} from checkpoints/last.pt`);
    const ev = events();
    expect(ev.filter(e => e.type === 'run_start').map(e => e.resumed_from_epoch)).toEqual([null, stopped.epoch]);
    expect(ev.filter(e => e.type === 'run_end').map(e => [e.status, e.epoch])).toEqual([['interrupted', stopped.epoch], ['completed', EPOCHS]]);
    const epochs = ev.filter(e => e.type === 'epoch_end').map(e => e.epoch);
    expect(epochs.at(-1)).toBe(EPOCHS);
    expect(new Set(epochs).size).toBe(EPOCHS); // every epoch once (an epoch cut by the signal is redone from its steps)
  }, 600_000);
});
