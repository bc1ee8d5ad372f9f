// heartseg synth OUT: a synthetic heart-MRI-like dataset in Decathlon layout (for the demo and tests).
import path from 'node:path';
import {type CommandSpec, type Context, expectPositionals, helpText, parseCommand, runEngine, str, UsageError} from './common.js';

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

function triple(flag: string, text: string | undefined): string[] {
  if (text === undefined) return [];
  const parts = text.split(/[,x]/).map(s => s.trim());
  if (parts.length !== 3 || parts.some(s => !/^\d+(\.\d+)?$/.test(s) || Number(s) <= 0)) {
    throw new UsageError(`--${flag} ${text}: expected three positive numbers Z,Y,X`);
  }
  return [`--${flag}`, ...parts];
}

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {cases: {type: 'string'}, seed: {type: 'string'}, shape: {type: 'string'}, spacing: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 1, 'heartseg synth OUT');
  for (const k of ['cases', 'seed'] as const) {
    if (str(p, k) !== undefined && !/^\d+$/.test(str(p, k)!)) throw new UsageError(`--${k} ${str(p, k)}: expected a whole number`);
  }
  const args = [path.resolve(ctx.cwd, p.positionals[0]), ...(str(p, 'cases') ? ['--cases', str(p, 'cases')!] : []),
    ...(str(p, 'seed') ? ['--seed', str(p, 'seed')!] : []), ...triple('shape', str(p, 'shape')), ...triple('spacing', str(p, 'spacing'))];
  return runEngine(ctx, p, {command: 'synth', args, relayStdout: true});
}

export const synth: CommandSpec = {name: 'synth', summary: 'write a synthetic dataset', help, run};
