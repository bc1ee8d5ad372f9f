// heartseg evaluate RUN|CKPT [DATA]: metrics per case, a summary and figures in RUN/eval/ (the core's evaluate job).
import {CONTRACT} from '../core/generated/contract.js';
import {applyFlagOptions, applyFlagValues, applyHelpLines} from '../core/config-flags.js';
import path from 'node:path';
import {type CommandSpec, type Context, coreFor, existingPath, expectPositionals, helpText, parseCommand, runJob, str} from './common.js';

const USAGE = 'heartseg evaluate RUN|CKPT [DATA] [options]';
const RUN = CONTRACT.run_folder;

export const help = helpText({
  usage: [USAGE],
  about: 'Evaluate a model on a dataset: per-case Dice, IoU, HD95, ASSD and volume errors, a summary and figures.\n'
    + `With a run folder the results go to RUN/${RUN.eval}/ (its own ${RUN.eval_events} and ${RUN.eval_log}; the training's record\n`
    + `is not touched) and DATA defaults to the data the run was trained on, its validation cases from ${RUN.split}.\n`
    + `With a checkpoint file (e.g. an old best_model.pth) a new folder RUNS_DIR/NAME is made for ${RUN.eval}/.\n`
    + "If DATA names label 1 differently from the checkpoint, the engine warns and it is shown.\n"
    + `A cross-validation run (${RUN.folds}/, ${RUN.cv}/) is the ensemble of its folds' models, with the post-processing\n`
    + `its ${RUN.cv_summary} chose (--postprocess overrides it); give it data no fold trained on, with --split all.`,
  options: [
    '  --split val|all     the run\'s validation cases (default val) or every case',
    '  --device D          cpu, cuda or cuda:N (default: the config\'s train.device)',
    '  --config FILE       config JSON for a bare checkpoint (spacing, normalisation, inference)',
    '  --no-figures        metrics only',
    ...applyHelpLines(),
  ],
  examples: [
    'heartseg evaluate runs/la-20250101-120000',
    'heartseg evaluate best_model.pth ../data/Task02_Heart --split all --name old-model',
  ],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {split: {type: 'string'}, device: {type: 'string'}, config: {type: 'string'},
    'no-figures': {type: 'boolean'}, ...applyFlagOptions()}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 2, USAGE);
  const core = coreFor(ctx, p);
  const model = core.modelRef(p.positionals[0]);
  const data = p.positionals[1] ? existingPath(ctx, 'DATA', p.positionals[1], 'dir') : undefined;
  const configFile = str(p, 'config') ? existingPath(ctx, '--config', str(p, 'config'), 'file') : undefined;
  const job = core.evaluate({model, data, split: str(p, 'split') as 'val' | 'all' | undefined, device: str(p, 'device'), configFile,
    figures: p.values['no-figures'] !== true, name: p.globals.name, apply: applyFlagValues(p.values)});
  return runJob(ctx, p, job, {label: 'evaluate',
    hint: r => (r.exitCode === 0 && r.paths.report ? `report: ${r.paths.report} (${[RUN.eval_summary, RUN.eval_metrics, RUN.eval_figures].map(f => path.relative(RUN.eval, f)).join(', ')})` : undefined)});
}

export const evaluate: CommandSpec = {name: 'evaluate', summary: 'evaluate a run or checkpoint on a dataset', help, run};
