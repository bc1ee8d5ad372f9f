// heartseg predict RUN|CKPT INPUT... --out DIR: label maps with the input's affine and shape.
import {type CommandSpec, type Context, existingPath, helpText, parseCommand, runEngine, str, UsageError} from './common.js';
import {modelArgs, modelTarget} from './model-target.js';
import path from 'node:path';

const USAGE = 'heartseg predict RUN|CKPT INPUT... --out DIR [options]';

export const help = helpText({
  usage: [USAGE],
  about: 'Segment images (.nii/.nii.gz files or folders of them) with a trained run or a checkpoint file. Each\n'
    + 'prediction is written to DIR with the same name, shape and affine as its input image.',
  options: [
    '  --out DIR           folder for the predicted label maps (required)',
    '  --probabilities     also write probability maps',
    '  --device D          cpu, cuda or cuda:N (default: the config\'s train.device)',
    '  --config FILE       config JSON for a bare checkpoint (spacing, normalisation, inference)',
  ],
  examples: [
    'heartseg predict runs/la-20250101-120000 scans/ --out predictions/',
    'heartseg predict best_model.pth patient_0001.nii.gz --out out/ --device cuda',
  ],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {out: {type: 'string'}, probabilities: {type: 'boolean'}, device: {type: 'string'},
    config: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  if (p.positionals.length < 2) throw new UsageError(`missing argument (usage: ${USAGE})`);
  const out = str(p, 'out');
  if (!out) throw new UsageError(`missing --out DIR (usage: ${USAGE})`);
  const target = modelTarget(ctx, p.globals.runsDir, p.positionals[0]);
  const inputs = p.positionals.slice(1).map(i => existingPath(ctx, 'INPUT', i));
  const args = [...modelArgs(target), '--input', ...inputs, '--out', path.resolve(ctx.cwd, out),
    ...(p.values.probabilities ? ['--probabilities'] : []),
    ...(str(p, 'device') ? ['--device', str(p, 'device')!] : []),
    ...(str(p, 'config') ? ['--config', existingPath(ctx, '--config', str(p, 'config'), 'file')] : [])];
  return runEngine(ctx, p, {command: 'predict', args});
}

export const predict: CommandSpec = {name: 'predict', summary: 'segment images with a run or checkpoint', help, run};
