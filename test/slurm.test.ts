import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {runCli} from '../src/cli.js';
import {slurmScript} from '../src/core/slurm.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-slurm-'));
  mkdirSync(path.join(dir, 'data'));
  mkdirSync(path.join(dir, 'bin'));
  mkdirSync(path.join(dir, 'tmp'));
  // Stand-ins for srun and scontrol that record what the job asked of them.
  writeFileSync(path.join(dir, 'bin', 'srun'), `#!/bin/bash
trap 'echo "srun got TERM" >> "$LOG"; kill $SLEEPER; exit 143' TERM
for a in "$@"; do [ "$prev" = "--config" ] && cp "$a" "$LOG.config"; prev="$a"; done
echo "srun $*" >> "$LOG"
[ "\${FAKE_SRUN:-}" = quick ] && exit 0
sleep 30 & SLEEPER=$!
wait $SLEEPER
`);
  writeFileSync(path.join(dir, 'bin', 'scontrol'), `#!/bin/bash
if [ "$1" = show ]; then echo node01; echo node02; else echo "scontrol $*" >> "$LOG"; fi
`);
  chmodSync(path.join(dir, 'bin', 'srun'), 0o755);
  chmodSync(path.join(dir, 'bin', 'scontrol'), 0o755);
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));

function script(runDir: string): string {
  return slurmScript({python: '/opt/py/bin/python', pyRoot: '/opt/heartseg/py', runDir, config: {train: {epochs: 3}, name: "it's"},
    jobName: 'heartseg-x', nodes: 2, gpusPerNode: 4, time: '12:00:00', cpusPerTask: 32, partition: 'gpu', account: 'lab',
    mem: '64G', outputDir: dir});
}

async function runJob(runDir: string, env: Record<string, string>, onStarted?: (pid: number) => void) {
  const file = path.join(dir, `job-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, script(runDir));
  const log = `${file}.log`;
  const child = execa('bash', [file], {reject: false, env: {PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, LOG: log,
    SLURM_JOB_ID: '4242', SLURM_JOB_NODELIST: 'node[01-02]', TMPDIR: path.join(dir, 'tmp'), ...env}});
  let exited = false;
  void child.finally(() => (exited = true));
  if (onStarted) {
    while (!existsSync(log) && !exited) await new Promise(r => setTimeout(r, 50));
    if (!exited) onStarted(child.pid!);
  }
  const r = await child;
  if (!existsSync(log)) throw new Error(`the job never reached srun (exit ${r.exitCode}): ${r.stderr}`);
  return {r, log: readFileSync(log, 'utf8'), config: readFileSync(`${log}.config`, 'utf8')};
}

describe('the sbatch script', () => {
  it('is valid bash with the resources, srun torchrun rendezvous and the requeue handler', async () => {
    const text = script('/scratch/runs/x');
    const file = path.join(dir, 'check.sh');
    writeFileSync(file, text);
    expect((await execa('bash', ['-n', file], {reject: false})).exitCode).toBe(0);
    for (const line of ['#SBATCH --nodes=2', '#SBATCH --gpus-per-node=4', '#SBATCH --ntasks-per-node=1', '#SBATCH --time=12:00:00',
      '#SBATCH --partition=gpu', '#SBATCH --account=lab', '#SBATCH --mem=64G', '#SBATCH --cpus-per-task=32',
      '#SBATCH --requeue', '#SBATCH --signal=B:USR1@300']) {
      expect(text).toContain(line);
    }
    expect(text).toMatch(/^srun .*"\$\{TORCHRUN\[@\]\}"/m);
    expect(text).toContain('TORCHRUN=("$PYTHON" -m torch.distributed.run)');
    expect(text).toContain('--rdzv-backend=c10d');
    expect(text).toContain('scontrol requeue "$SLURM_JOB_ID"');
    expect(text).toContain('trap requeue USR1');
  });

  it('starts torchrun through srun with the embedded config, and without --resume on a fresh run', async () => {
    const runDir = path.join(dir, 'fresh-run');
    const {r, log, config} = await runJob(runDir, {FAKE_SRUN: 'quick'});
    expect(r.exitCode).toBe(0);
    expect(log).toMatch(/^srun --kill-on-bad-exit=1 \/opt\/py\/bin\/python -m torch\.distributed\.run --nnodes=2 --nproc-per-node=4 --rdzv-backend=c10d --rdzv-endpoint=node01:24242 --rdzv-id=4242 -m heartseg train --config \S+ --run-dir \S*fresh-run$/m);
    expect(JSON.parse(config)).toEqual({train: {epochs: 3}, name: "it's"});
    expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]); // the temporary config is cleaned up
  });

  it('resumes when the run already has checkpoints/last.pt', async () => {
    const runDir = path.join(dir, 'old-run');
    mkdirSync(path.join(runDir, 'checkpoints'), {recursive: true});
    writeFileSync(path.join(runDir, 'checkpoints', 'last.pt'), 'x');
    const {log} = await runJob(runDir, {FAKE_SRUN: 'quick'});
    expect(log).toMatch(/--run-dir \S*old-run --resume$/m);
  });

  it('on USR1 (time limit near) sends SIGTERM to the training, waits, and requeues the job', async () => {
    const {r, log} = await runJob(path.join(dir, 'long-run'), {}, pid => process.kill(pid, 'SIGUSR1'));
    expect(r.exitCode).toBe(0);
    expect(log).toContain('srun got TERM');
    expect(log).toContain('scontrol requeue 4242');
    expect(log.indexOf('srun got TERM')).toBeLessThan(log.indexOf('scontrol requeue'));
  });
});

describe('heartseg slurm train', () => {
  // The interpreter is checked before a script names it; the fake engine answers that check as a usable one.
  const fakeEngine = path.join(__dirname, 'fixtures', 'fake-engine.mjs');
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return {out, err, ctx: {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => err.push(s)}, env: process.env, cwd: dir}};
  };

  it('prints a script with the requested resources and the run config', async () => {
    const {out, ctx} = io();
    const code = await runCli(['slurm', 'train', 'data', '--nodes', '3', '--gpus-per-node', '2', '--time', '1-00:00:00',
      '--partition', 'a100', '--account', 'me', '--epochs', '7', '--name', 'cluster', '--python', fakeEngine], ctx, false);
    expect(code).toBe(0);
    const text = out.join('');
    expect(text).toContain('#SBATCH --nodes=3');
    expect(text).toContain('#SBATCH --time=1-00:00:00');
    expect(text).toContain(`RUN='${path.join(dir, 'runs', 'cluster')}'`);
    expect(text).toMatch(/"epochs": 7/);
    expect(text).toContain(`"root": "${path.join(dir, 'data')}"`);
  });

  it.each([
    [['slurm', 'train', 'data', '--nodes', '0'], /--nodes 0: expected a whole number >= 1/],
    [['slurm', 'train', 'nowhere'], /DATA \/\S+\/nowhere: no such folder/],
    [['slurm', 'train', 'data', '--time', 'soon'], /--time soon/],
    [['slurm', 'data'], /expected `slurm train DATA`/],
    [['slurm', 'train', 'data', '--lr=-1'], /optim\.lr: got -1, expected a positive number/],
    [['slurm', 'train', 'data', '--lr', '-1'], /'--lr' argument is ambiguous.*--lr=-XYZ/],
  ])('%j exits 2 with one line', async (argv, message) => {
    const {err, ctx} = io();
    expect(await runCli([...argv, '--python', fakeEngine], ctx, false)).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });
});
