// heartseg evaluate RUN|CKPT [DATA]: metrics per case, a summary and figures in RUN/eval/.
import {existsSync} from 'node:fs';
import path from 'node:path';
import {defaultRunName} from '../core/paths.js';
import {type CommandSpec, type Context, existingPath, expectPositionals, helpText, parseCommand, runEngine, str, UsageError} from './common.js';
import {modelArgs, modelTarget} from './model-target.js';

const USAGE = 'heartseg evaluate RUN|CKPT [DATA] [options]';

export const help = helpText({
  usage: [USAGE],
  about: 'Evaluate a model on a dataset: per-case Dice, IoU, HD95, ASSD and volume errors, a summary and figures.\n'
    + 'With a run folder the results go to RUN/eval/ and DATA defaults to the data the run was trained on.\n'
    + 'With a checkpoint file (e.g. an old best_model.pth) a new folder RUNS_DIR/NAME is made for eval/.',
  options: [
    '  --split val|all     the run\'s validation cases (default val) or every case',
    '  --device D          cpu, cuda or cuda:N (default: the config\'s train.device)',
    '  --config FILE       config JSON for a bare checkpoint (spacing, normalisation, inference)',
    '  --no-figures        metrics only',
  ],
  examples: [
    'heartseg evaluate runs/la-20250101-120000',
    'heartseg evaluate best_model.pth ../data/Task02_Heart --split all --name old-model',
  ],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {split: {type: 'string'}, device: {type: 'string'}, config: {type: 'string'},
    'no-figures': {type: 'boolean'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 2, USAGE);
  const target = modelTarget(ctx, p.globals.runsDir, p.positionals[0]);
  const data = p.positionals[1] ? existingPath(ctx, 'DATA', p.positionals[1], 'dir') : undefined;
  const split = str(p, 'split') ?? 'val';
  if (!['val', 'all'].includes(split)) throw new UsageError(`--split ${split}: expected val or all`);
  let runDir: string;
  if (target.kind === 'run') {
    runDir = target.runDir;
  } else {
    if (!data) throw new UsageError('evaluating a checkpoint file needs DATA');
    runDir = path.join(p.globals.runsDir, p.globals.name ?? defaultRunName(`eval-${path.parse(target.file).name}`));
    if (existsSync(runDir)) throw new UsageError(`run folder ${runDir} already exists; choose another --name`);
  }
  const args = [...modelArgs(target), ...(target.kind === 'checkpoint' ? ['--run', runDir] : []),
    ...(data ? ['--data', data] : []), '--split', split,
    ...(str(p, 'device') ? ['--device', str(p, 'device')!] : []),
    ...(str(p, 'config') ? ['--config', existingPath(ctx, '--config', str(p, 'config'), 'file')] : []),
    ...(p.values['no-figures'] ? ['--no-figures'] : [])];
  return runEngine(ctx, p, {
    command: 'evaluate', args, runDir,
    hint: r => (r.exitCode === 0 ? `report: ${path.join(runDir, 'eval')} (summary.json, metrics.csv, figures/)` : undefined),
  });
}

export const evaluate: CommandSpec = {name: 'evaluate', summary: 'evaluate a run or checkpoint on a dataset', help, run};
