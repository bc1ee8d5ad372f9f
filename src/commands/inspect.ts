// heartseg inspect CKPT|RUN: architecture, per-block shapes and parameters, epoch and metrics, compatibility.
import {statSync} from 'node:fs';
import {applyFlagOptions, applyFlagValues, applyHelpLines} from '../core/config-flags.js';
import {runCheckpoint} from '../core/runs.js';
import {type CommandSpec, type Context, coreFor, existingPath, expectPositionals, helpText, parseCommand, str, UsageError} from './common.js';

const USAGE = 'heartseg inspect CKPT|RUN [--patch Z,Y,X] [--json]';

export const help = helpText({
  usage: [USAGE],
  about: 'Describe a checkpoint: a raw state_dict (best_model.pth), a module.-prefixed one (DataParallel/DDP) or a\n'
    + "heartseg checkpoint. Shows the U-Net's widths read from the weights, the output shape and parameters of each\n"
    + 'block for a patch, the total parameter count, the epoch and metrics if stored, and whether it loads strictly.\n'
    + 'For a run folder: its final model, else best, else last. Checkpoints are read with weights_only=True: one that\n'
    + 'needs to run code is refused.',
  options: ['  --patch Z,Y,X       input size for the per-block shapes (default: the training patch)', ...applyHelpLines()],
  examples: ['heartseg inspect best_model.pth', 'heartseg inspect runs/la-20250101-120000 --patch 64,128,128 --json'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {patch: {type: 'string'}, ...applyFlagOptions()}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 1, USAGE);
  let file = existingPath(ctx, 'CKPT', p.positionals[0]);
  if (statSync(file).isDirectory()) {
    const ckpt = runCheckpoint(file);
    if (!ckpt) throw new UsageError(`${file}: no checkpoint in this run`);
    file = ckpt;
  }
  const patchText = str(p, 'patch');
  if (patchText !== undefined && !/^\d+,\d+,\d+$/.test(patchText)) throw new UsageError(`--patch ${patchText}: expected three sizes Z,Y,X`);
  const patch = patchText?.split(',').map(Number);
  const details = await coreFor(ctx, p).inspect(file, {patch, text: !p.globals.json, apply: applyFlagValues(p.values)});
  ctx.stdout.write(p.globals.json ? JSON.stringify(details.raw) + '\n' : details.lines.join('\n') + '\n');
  return 0;
}

export const inspect: CommandSpec = {name: 'inspect', summary: 'describe a checkpoint (architecture, parameters, shapes)', help, run};
