// heartseg slurm train DATA [...]: print (or write) a ready sbatch script for multi-node, multi-GPU training.
import {existsSync, mkdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {flatten} from '../core/config.js';
import {configFlagHelp, configFlagOptions, flagOverrides, type FlagValues} from '../core/config-flags.js';
import {defaultRunName, pyRoot} from '../core/paths.js';
import {collectHint, slurmScript, TIME_PATTERN} from '../core/slurm.js';
import {cvFoldCount, everyFoldCount} from '../core/folds.js';
import {checkName} from '../core/app/engine-jobs.js';
import {CONTRACT} from '../core/generated/contract.js';
import {type CommandSpec, type Context, coreFor, existingPath, helpText, parseCommand, str, UsageError} from './common.js';

const USAGE = 'heartseg slurm train DATA [--nodes N] [--gpus-per-node G] [--time T] [--partition P] [--account A] [options]';

export const help = helpText({
  usage: [USAGE],
  about: 'Print an sbatch script that trains on N nodes x G GPUs with `srun torchrun` (c10d rendezvous). Five minutes\n'
    + 'before the time limit the job tells the engine to checkpoint (SIGTERM) and requeues itself; whenever the run\n'
    + 'already has checkpoints/last.pt (requeue, preemption, resubmission) it continues with --resume.\n'
    + 'Follow it from a login node with `heartseg watch RUN`. The runs folder is created for the job log.\n'
    + 'With --folds K (and no --fold) it is a job array, one task per fold (--array=0-K-1): task k trains fold k into\n'
    + `RUN/${CONTRACT.run_folder.fold_dir.replace('{fold}', 'k')} (resuming from its last.pt); once every task is done, \`heartseg train --resume RUN\` evaluates\n`
    + `the folds and writes RUN/${CONTRACT.run_folder.cv}/. With --fold N it trains that fold only, as one job.`,
  options: [
    '  --nodes N           nodes (default 1)',
    '  --gpus-per-node G   GPUs per node = processes per node (default 1)',
    '  --time T            time limit, HH:MM:SS or D-HH:MM:SS (default 24:00:00)',
    '  --partition P       partition (default: the cluster\'s)',
    '  --account A         account to charge (default: yours)',
    '  --cpus-per-task C   CPUs per node (default 8 per GPU)',
    '  --mem M             memory per node, e.g. 64G (default: the cluster\'s)',
    '  --signal-before S   seconds before the limit to checkpoint and requeue (default 300)',
    '  --out FILE          write the script to FILE instead of printing it',
    ...configFlagHelp(),
  ],
  examples: [
    'heartseg slurm train /data/Task02_Heart --nodes 2 --gpus-per-node 4 --time 12:00:00 --partition gpu > job.sh && sbatch job.sh',
    'heartseg slurm train /data/Task02_Heart --folds 5 --name heart-cv --out cv.sh && sbatch cv.sh',
  ],
});

function positiveInt(flag: string, text: string | undefined, def: number): number {
  if (text === undefined) return def;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--${flag} ${text}: expected a whole number >= 1`);
  return Number(text);
}

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {...configFlagOptions(), nodes: {type: 'string'}, 'gpus-per-node': {type: 'string'},
    time: {type: 'string'}, partition: {type: 'string'}, account: {type: 'string'}, 'cpus-per-task': {type: 'string'},
    mem: {type: 'string'}, 'signal-before': {type: 'string'}, out: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  if (p.positionals[0] !== 'train') throw new UsageError(`expected \`slurm train DATA\` (usage: ${USAGE})`);
  if (p.positionals.length !== 2) throw new UsageError(`expected one DATA folder (usage: ${USAGE})`);
  const data = existingPath(ctx, 'DATA', p.positionals[1], 'dir');
  const nodes = positiveInt('nodes', str(p, 'nodes'), 1);
  const gpus = positiveInt('gpus-per-node', str(p, 'gpus-per-node'), 1);
  const time = str(p, 'time') ?? '24:00:00';
  if (!TIME_PATTERN.test(time)) throw new UsageError(`--time ${time}: expected HH:MM:SS, D-HH:MM:SS or minutes`);
  const name = p.globals.name ?? defaultRunName(data);
  checkName(name);
  const runDir = path.join(p.globals.runsDir, name);
  // resubmitting a cross-validation is fine: each task resumes its fold
  if (existsSync(runDir) && !existsSync(path.join(runDir, CONTRACT.run_folder.last)) && !cvFoldCount(runDir)) {
    throw new UsageError(`run folder ${runDir} exists without ${CONTRACT.run_folder.last}; choose another --name`);
  }
  const core = coreFor(ctx, p);
  // the same layers as train (defaults < preset < file < flags), through the core's one configure
  const configured = core.configure({data, preset: str(p, 'preset'), file: str(p, 'config') && existingPath(ctx, '--config', str(p, 'config'), 'file'),
    edits: {...flatten(flagOverrides(p.values as FlagValues)), name}});
  if (configured.problems.length) throw new UsageError(configured.problems.join('; '));
  const config = configured.config;
  const folds = everyFoldCount(config.data as {folds?: unknown; fold?: unknown}) ?? undefined; // one task per fold
  const py = {path: await core.python()};
  mkdirSync(p.globals.runsDir, {recursive: true});
  const script = slurmScript({python: py.path, pyRoot: pyRoot(), runDir, config: config as unknown as Record<string, unknown>,
    jobName: `heartseg-${name}`.slice(0, 64), nodes, gpusPerNode: gpus, time, partition: str(p, 'partition'),
    account: str(p, 'account'), mem: str(p, 'mem'), cpusPerTask: positiveInt('cpus-per-task', str(p, 'cpus-per-task'), 8 * gpus),
    signalSeconds: positiveInt('signal-before', str(p, 'signal-before'), 300), outputDir: p.globals.runsDir, folds});
  const out = str(p, 'out') && path.resolve(ctx.cwd, str(p, 'out')!);
  if (out) writeFileSync(out, script, {mode: 0o755});
  // --json: one document, the script inside it unless it went to a file
  if (p.globals.json) {
    return ctx.stdout.write(JSON.stringify({command: 'slurm', status: 'completed', run_dir: runDir, file: out ?? null, script: out ? null : script,
      ...(folds ? {folds, collect: collectHint(runDir)} : {})}) + '\n'), 0;
  }
  if (!out) return ctx.stdout.write(script), 0;
  ctx.stdout.write(`wrote ${out}; submit with: sbatch ${out}${folds ? ` (a job array: ${folds} tasks, one per fold)` : ''}\nthen follow it with: heartseg watch ${runDir}\n`);
  if (folds) ctx.stdout.write(`once every task is done, write the cross-validated metrics (${path.join(runDir, CONTRACT.run_folder.cv)}) with: ${collectHint(runDir)}\n`);
  return 0;
}

export const slurm: CommandSpec = {name: 'slurm', summary: 'write an sbatch script for cluster training', help, run};
