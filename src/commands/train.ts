// heartseg train DATA | train --resume RUN: flags -> the core's layered config (plan < preset < file < flags) -> a job.
import {existsSync} from 'node:fs';
import path from 'node:path';
import {flatten} from '../core/config.js';
import {configFlagHelp, configFlagOptions, flagOverrides} from '../core/config-flags.js';
import {CONTRACT} from '../core/generated/contract.js';
import {checkName} from '../core/app/engine-jobs.js';
import {cvFoldCount, DEFAULT_FOLDS, expandFoldFlags} from '../core/folds.js';
import type {JobResult, Plan} from '../core/app/types.js';
import {type CommandSpec, type Context, coreFor, existingPath, expectPositionals, helpText, parseCommand, runJob, str, UsageError} from './common.js';

const USAGE = 'heartseg train DATA [options]';
const RUN = CONTRACT.run_folder;

export const help = helpText({
  usage: [USAGE, 'heartseg train --resume RUN [options]'],
  about: 'Train a 3D U-Net on a Decathlon-style dataset (dataset.json, imagesTr/, labelsTr/). Everything goes to the\n'
    + `run folder RUNS_DIR/NAME: ${[RUN.config, RUN.split, RUN.events, RUN.engine_log, `${RUN.tensorboard}/`, `${RUN.checkpoints}/`].join(', ')}.\n`
    + 'Ctrl-C (or SIGTERM, or a closed terminal) stops after the current step with a checkpoint; --resume continues.\n'
    + 'Config precedence: defaults < plan < --preset < --config < flags. Without --preset or --config the run starts\n'
    + 'from `heartseg plan DATA` (spacing, patch, batch, network and length for this dataset and device).\n'
    + `On --resume only these may change: ${CONTRACT.resume_keys.join(', ')}.`,
  options: [
    '  --resume RUN        continue RUN (a folder, or a name in --runs-dir) from its last checkpoint',
    '  --init CKPT         start from the weights of a compatible checkpoint (fine-tuning)',
    ...configFlagHelp({folds: `--folds with no number means ${DEFAULT_FOLDS} (one run folder: RUN/folds/fold-k, then RUN/cv/)`}),
    `  --all               one model on every case, no validation (for deployment): --fold all (with --folds ${DEFAULT_FOLDS} unless given)`,
  ],
  examples: [
    'heartseg train ../data/Task02_Heart --epochs 50 --patch 64,128,128',
    'heartseg train data/la --patch 64,128,128 --features 32,64,128,256 --ci',
    'heartseg train --resume runs/la-20250101-120000 --epochs 200',
    'heartseg train data/la --folds            # 5-fold cross-validation, then cv/ metrics',
    'heartseg train data/la --all --name la-deploy',
  ],
});

/** After a stop with a checkpoint: how to continue, with the absolute run folder. */
export function resumeHint(r: JobResult): string | undefined {
  const runDir = r.paths.runDir;
  // a cross-validation parent has no last.pt of its own: its folds do
  return r.exitCode === CONTRACT.exit_codes.interrupted && runDir && (existsSync(path.join(runDir, CONTRACT.run_folder.last)) || cvFoldCount(runDir))
    ? `resume with: heartseg train --resume ${runDir}` : undefined;
}

async function run(argv: string[], ctx: Context): Promise<number> {
  let expanded: string[];
  try {
    expanded = expandFoldFlags(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const p = parseCommand(expanded, {...configFlagOptions(), resume: {type: 'string'}, init: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  const flags = p.values as Record<string, string | boolean | undefined>;
  const core = coreFor(ctx, p);
  const edits = flatten(flagOverrides(flags));
  const resume = str(p, 'resume');
  if (resume) {
    expectPositionals(p, 0, 1, 'heartseg train --resume RUN [DATA] [options]');
    for (const flag of ['config', 'preset', 'init'] as const) {
      if (str(p, flag)) throw new UsageError(`--${flag} cannot be combined with --resume; change the run with flags such as --epochs`);
    }
    if (p.globals.name) throw new UsageError('--name cannot be combined with --resume (the run keeps its name)');
    if (p.positionals[0]) edits['data.root'] = existingPath(ctx, 'DATA', p.positionals[0], 'dir');
    return runJob(ctx, p, core.resume({run: resume, edits}), {label: 'train', hint: resumeHint});
  }
  expectPositionals(p, 1, 1, USAGE);
  if (p.globals.name !== undefined) checkName(p.globals.name); // before the (slower) planning
  const data = existingPath(ctx, 'DATA', p.positionals[0], 'dir');
  const init = str(p, 'init') ? existingPath(ctx, '--init', str(p, 'init'), 'file') : undefined;
  const file = str(p, 'config') ? existingPath(ctx, '--config', str(p, 'config'), 'file') : undefined;
  const layers = {data, preset: str(p, 'preset'), file, edits};
  let configured = core.configure(layers); // flags and files are checked before the (slower) planning
  if (configured.problems.length) throw new UsageError(configured.problems.join('; '));
  if (!layers.preset && !file && flags['no-plan'] !== true) {
    let plan: Plan | undefined;
    await core.python(); // an unusable interpreter is refused here, not taken for a failed plan
    try {
      // The plan is sized for the run it feeds: its threads and its time budget when the flags give them.
      plan = await core.plan(data, {device: (edits['train.device'] as string | undefined) ?? 'auto',
        threads: Number(edits['train.threads'] ?? 0) || undefined, budgetMinutes: Number(edits['train.minutes'] ?? 0) || undefined});
    } catch (e) {
      // The dataset's problems: the engine's train checks the whole dataset and lists every one, so say nothing here.
      if (!(e instanceof UsageError)) ctx.stderr.write(`plan: ${(e as Error).message.replace(/^plan: /, '')}; starting from the defaults\n`);
    }
    if (plan) {
      configured = core.configure({...layers, plan});
      for (const [key, reason] of Object.entries(configured.reasons)) ctx.stderr.write(`plan: ${key}: ${reason}\n`);
    }
  }
  if (configured.problems.length) throw new UsageError(configured.problems.join('; '));
  return runJob(ctx, p, core.train({configured, name: p.globals.name, init}), {label: 'train', hint: resumeHint});
}

export const train: CommandSpec = {name: 'train', summary: 'train a model on a dataset (headless progress lines)', help, run};
