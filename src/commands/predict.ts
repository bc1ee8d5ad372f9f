// heartseg predict RUN|CKPT INPUT... --out DIR: label maps with the input's affine and shape (the core's predict job).
import {CONTRACT} from '../core/generated/contract.js';
import {applyFlagOptions, applyFlagValues, applyHelpLines} from '../core/config-flags.js';
import {type CommandSpec, type Context, coreFor, existingPath, helpText, parseCommand, runJob, str, UsageError} from './common.js';

const USAGE = 'heartseg predict RUN|CKPT INPUT... --out DIR [options]';
const RUN = CONTRACT.run_folder;

export const help = helpText({
  usage: [USAGE],
  about: 'Segment images (.nii/.nii.gz files or folders of them) with a trained run or a checkpoint file. Each\n'
    + 'prediction is written to DIR under its input\'s name (case.nii stays case.nii, case.nii.gz stays .nii.gz), with\n'
    + `the input's shape and affine; DIR also gets ${RUN.predict_manifest} (what came from what), ${RUN.predict_events}\n`
    + `and ${RUN.predict_log}. Nothing is written into the run. The last line (and --json "files") names what was written.\n`
    + `A cross-validation run (${RUN.folds}/, ${RUN.cv}/) predicts with the mean probability of its folds' models and the\n`
    + `post-processing its ${RUN.cv_summary} chose (--postprocess overrides it).`,
  options: [
    '  --out DIR           folder for the predicted label maps (required)',
    '  --probabilities     also write probability maps (CASE_probabilities)',
    '  --device D          cpu, cuda or cuda:N (default: the config\'s train.device)',
    '  --config FILE       config JSON for a bare checkpoint (spacing, normalisation, inference)',
    ...applyHelpLines(),
  ],
  examples: [
    'heartseg predict runs/la-20250101-120000 scans/ --out predictions/',
    'heartseg predict best_model.pth patient_0001.nii.gz --out out/ --device cuda',
  ],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {out: {type: 'string'}, probabilities: {type: 'boolean'}, device: {type: 'string'},
    config: {type: 'string'}, ...applyFlagOptions()}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  if (p.positionals.length < 2) throw new UsageError(`missing argument (usage: ${USAGE})`);
  const out = str(p, 'out');
  if (!out) throw new UsageError(`missing --out DIR (usage: ${USAGE})`);
  const core = coreFor(ctx, p);
  const model = core.modelRef(p.positionals[0]);
  const inputs = p.positionals.slice(1).map(i => existingPath(ctx, 'INPUT', i));
  const configFile = str(p, 'config') ? existingPath(ctx, '--config', str(p, 'config'), 'file') : undefined;
  const job = core.predict({model, inputs, outDir: out, probabilities: p.values.probabilities === true, device: str(p, 'device'), configFile,
    apply: applyFlagValues(p.values)});
  return runJob(ctx, p, job, {label: 'predict'});
}

export const predict: CommandSpec = {name: 'predict', summary: 'segment images with a run or checkpoint', help, run};
