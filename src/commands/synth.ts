// heartseg synth OUT: a synthetic heart-MRI-like dataset in Decathlon layout (for the demo and tests).
import {type CommandSpec, type Context, coreFor, expectPositionals, helpText, parseCommand, runJob, str, UsageError} from './common.js';

export const help = helpText({
  usage: ['heartseg synth OUT [--cases N] [--seed S] [--shape Z,Y,X] [--spacing Z,Y,X]'],
  about: 'Write a seeded synthetic dataset (dataset.json, imagesTr/, labelsTr/) with a left-atrium-like label into OUT\n'
    + '(which must be absent or empty). The same seed writes the same volumes.',
  options: [
    '  --cases N           number of cases (default 20)',
    '  --seed S            seed (default 0)',
    "  --shape Z,Y,X       voxels per case (default: the engine's)",
    "  --spacing Z,Y,X     voxel size in mm (default: the engine's)",
  ],
  examples: ['heartseg synth data/synth --cases 8 --shape 32,48,48'],
});

function triple(flag: string, text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(/[,x]/).map(s => s.trim());
  if (parts.length !== 3 || parts.some(s => !/^\d+(\.\d+)?$/.test(s) || Number(s) <= 0)) {
    throw new UsageError(`--${flag} ${text}: expected three positive numbers Z,Y,X`);
  }
  return parts.map(Number);
}

function count(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${flag} ${text}: expected a whole number`);
  return Number(text);
}

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {cases: {type: 'string'}, seed: {type: 'string'}, shape: {type: 'string'}, spacing: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 1, 'heartseg synth OUT');
  const job = coreFor(ctx, p).synth({out: p.positionals[0], cases: count('cases', str(p, 'cases')), seed: count('seed', str(p, 'seed')),
    shape: triple('shape', str(p, 'shape')), spacing: triple('spacing', str(p, 'spacing'))});
  return runJob(ctx, p, job, {label: 'synth'});
}

export const synth: CommandSpec = {name: 'synth', summary: 'write a synthetic dataset', help, run};
