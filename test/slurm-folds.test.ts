// `heartseg slurm train DATA --folds K` (issue 15): a job array, one task per fold. The script's text, bash -n, and
// one task run under a stand-in srun with the real engine preparing its fold (RUN/config.json, the fold's config).
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {runCli} from '../src/cli.js';
import {resolvePython} from '../src/core/python.js';
import {slurmScript} from '../src/core/slurm.js';

const repo = path.resolve(__dirname, '..');
const fakeEngine = path.join(__dirname, 'fixtures', 'fake-engine.mjs');
let dir: string;
let python = '';
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-slurm-folds-'));
  for (const sub of ['data', 'bin', 'tmp']) mkdirSync(path.join(dir, sub));
  // srun stand-in: records its command line and the config file it was given, then ends at once
  writeFileSync(path.join(dir, 'bin', 'srun'), `#!/bin/bash
for a in "$@"; do [ "$prev" = "--config" ] && cp "$a" "$LOG.config"; prev="$a"; done
echo "srun $*" >> "$LOG"
`);
  writeFileSync(path.join(dir, 'bin', 'scontrol'), '#!/bin/bash\necho node01\n');
  chmodSync(path.join(dir, 'bin', 'srun'), 0o755);
  chmodSync(path.join(dir, 'bin', 'scontrol'), 0o755);
  try {
    python = (await resolvePython()).path;
  } catch {
    python = '';
  }
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));

const options = (folds?: number) => ({python: python || '/opt/py/bin/python', pyRoot: path.join(repo, 'py'), runDir: path.join(dir, 'runs', 'cv'),
  config: {data: {root: path.join(dir, 'data'), folds: folds ?? 0, fold: null}, name: 'cv'}, jobName: 'heartseg-cv', nodes: 1, gpusPerNode: 1,
  time: '01:00:00', cpusPerTask: 4, outputDir: dir, folds});

const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return {out, err, ctx: {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => err.push(s)}, env: process.env, cwd: dir}};
};

describe('the job-array script', () => {
  it('is valid bash: one task per fold, each into RUN/folds/fold-$TASK, and says how to collect cv/', async () => {
    const text = slurmScript(options(3));
    const file = path.join(dir, 'array.sh');
    writeFileSync(file, text);
    expect((await execa('bash', ['-n', file], {reject: false})).exitCode).toBe(0);
    expect(text).toContain('#SBATCH --array=0-2');
    expect(text).toContain(`#SBATCH --output=${dir}/%x-%A_%a.out`);
    expect(text).toContain('FOLD="$SLURM_ARRAY_TASK_ID"');
    expect(text).toContain('TARGET="$RUN/folds/fold-$FOLD"');
    expect(text).toContain('--run-dir "$TARGET"');
    expect(text).toContain('if [ -f "$TARGET/checkpoints/last.pt" ]; then');
    expect(text).toContain(`heartseg train --resume '${path.join(dir, 'runs', 'cv')}'`);
  });

  it('without folds: no array, the run folder itself', () => {
    const text = slurmScript(options());
    expect(text).not.toContain('--array');
    expect(text).not.toContain('SLURM_ARRAY_TASK_ID');
    expect(text).toContain('TARGET="$RUN"');
  });

  it('a task prepares its fold with the engine and trains it; resumes a fold with last.pt; restarts one without', async (ctx) => {
    if (!python) return ctx.skip('no Python for the engine');
    const file = path.join(dir, 'task.sh');
    writeFileSync(file, slurmScript(options(3)));
    const run = path.join(dir, 'runs', 'cv');
    const task = async (id: number) => {
      const log = path.join(dir, `task-${id}-${Math.random().toString(36).slice(2)}.log`);
      const r = await execa('bash', [file], {reject: false, env: {PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, LOG: log,
        SLURM_JOB_ID: '777', SLURM_ARRAY_TASK_ID: String(id), SLURM_JOB_NODELIST: 'node01', TMPDIR: path.join(dir, 'tmp')}});
      expect(r.exitCode, r.stderr).toBe(0);
      return {log: readFileSync(log, 'utf8'), config: JSON.parse(readFileSync(`${log}.config`, 'utf8'))};
    };
    const first = await task(1);
    expect(first.log).toMatch(new RegExp(`-m heartseg train --config \\S+ --run-dir ${path.join(run, 'folds', 'fold-1')}$`, 'm'));
    expect(first.config.data).toMatchObject({folds: 3, fold: 1});
    expect(first.config.name).toBe('cv-fold-1');
    const parentConfig = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(parentConfig.data).toMatchObject({folds: 3, fold: null});
    // a requeued task whose fold has last.pt resumes it; one whose fold never finished an epoch starts it afresh
    mkdirSync(path.join(run, 'folds', 'fold-2', 'checkpoints'), {recursive: true});
    writeFileSync(path.join(run, 'folds', 'fold-2', 'checkpoints', 'last.pt'), 'x');
    expect((await task(2)).log).toMatch(/--run-dir \S+fold-2 --resume$/m);
    mkdirSync(path.join(run, 'folds', 'fold-0'), {recursive: true});
    writeFileSync(path.join(run, 'folds', 'fold-0', 'events.jsonl'), '');
    expect((await task(0)).log).toMatch(/--run-dir \S+fold-0$/m);
    expect(existsSync(path.join(run, 'folds', 'fold-0'))).toBe(false); // removed: the engine creates it
    expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]); // both temporary configs are cleaned up
  }, 120_000);
});

describe('heartseg slurm train --folds', () => {
  it('--folds K prints an array job; --out also says how to collect cv/', async () => {
    let {out, err, ctx} = io();
    expect(await runCli(['slurm', 'train', 'data', '--folds', '4', '--name', 'k4', '--python', fakeEngine], ctx, false), err.join('')).toBe(0);
    expect(out.join('')).toContain('#SBATCH --array=0-3');
    ({out, err, ctx} = io());
    const file = path.join(dir, 'k4.sh');
    expect(await runCli(['slurm', 'train', 'data', '--folds', '4', '--name', 'k4', '--out', file, '--python', fakeEngine], ctx, false), err.join('')).toBe(0);
    expect(out.join('')).toContain('(a job array: 4 tasks, one per fold)');
    expect(out.join('')).toContain(`with: heartseg train --resume '${path.join(dir, 'runs', 'k4')}'`);
  });

  it('--fold N trains that fold only: one job, no array', async () => {
    const {out, err, ctx} = io();
    expect(await runCli(['slurm', 'train', 'data', '--folds', '4', '--fold', '2', '--name', 'f2', '--python', fakeEngine], ctx, false), err.join('')).toBe(0);
    const text = out.join('');
    expect(text).not.toContain('--array');
    expect(text).toMatch(/"fold": 2/);
  });

  it('resubmitting a cross-validation whose folder exists is allowed (each task resumes its fold)', async () => {
    const run = path.join(dir, 'runs', 'again');
    mkdirSync(path.join(run, 'folds', 'fold-0'), {recursive: true});
    writeFileSync(path.join(run, 'config.json'), JSON.stringify({data: {folds: 2, fold: null}}));
    const {err, ctx} = io();
    expect(await runCli(['slurm', 'train', 'data', '--folds', '2', '--name', 'again', '--python', fakeEngine], ctx, false), err.join('')).toBe(0);
  });
});
