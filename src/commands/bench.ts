// heartseg bench: the engine's benchmark suite (python -m heartseg bench). It measures every line, the analyze line
// included (the front's `heartseg analyze` against the engine's, both as processes), keeps bench/results.json with
// its results module (ratios, merging, the table), and prints the table; the front only passes the flags on.
import path from 'node:path';
import {execa} from 'execa';
import {engineEnv} from '../core/python.js';
import {type CommandSpec, type Context, coreFor, expectPositionals, helpText, parseCommand, str} from './common.js';

export const BENCH_HELP = helpText({
  usage: ['heartseg bench [--quick | --smoke] [--gpu] [--lines a,b] [--skip a,b] [--repeat N] [--out FILE] [--data DIR]'],
  about: 'Measure speed and memory against a baseline run in the same session; write bench/results.json and print a\n'
    + 'table. Lines: data_sampling, train_step, inference, analyze, time_to_dice, and when named time_to_dice_la2018\n'
    + '(the default plan on la2018 to validation Dice 0.89, up to 40 min). ratio = how many times faster ours\n'
    + 'is (above 1 means faster). The engine runs the suite and keeps the results file; see BENCHMARKS.md.',
  options: [
    '  --quick             fewer repeats and smaller settings (under 3 minutes on 2 cores)',
    '  --smoke             tiny sizes: checks the harness, measures nothing useful',
    '  --gpu               add the CUDA lines (AMP, channels_last_3d, torch.compile, MFU); skipped without CUDA',
    '  --lines LIST        only these lines (comma-separated; time_to_dice_la2018 runs only when named here)',
    '  --skip LIST         leave these lines out',
    '  --repeat N          run the lines N times; each line keeps its median-ratio run and lists every ratio',
    '  --out FILE          results file, merged with earlier lines (default bench/results.json)',
    '  --data DIR          dataset for data_sampling, analyze and time_to_dice_la2018 (default ../shared/data/la2018)',
  ],
  examples: ['heartseg bench --quick', 'heartseg bench --quick --repeat 3', 'heartseg bench --lines analyze --json'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {quick: {type: 'boolean'}, smoke: {type: 'boolean'}, gpu: {type: 'boolean'}, lines: {type: 'string'},
    skip: {type: 'string'}, repeat: {type: 'string'}, out: {type: 'string'}, data: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(BENCH_HELP), 0;
  expectPositionals(p, 0, 0, 'heartseg bench');
  const python = await coreFor(ctx, p).python();
  const args = ['-m', 'heartseg', 'bench', '--out', path.resolve(ctx.cwd, str(p, 'out') ?? path.join('bench', 'results.json')),
    ...(['quick', 'smoke', 'gpu', 'json'] as const).filter(f => (f === 'json' ? p.globals.json : p.values[f] === true)).map(f => `--${f}`),
    ...(['lines', 'skip', 'repeat'] as const).flatMap(f => (str(p, f) ? [`--${f}`, str(p, f)!] : [])),
    ...(str(p, 'data') ? ['--data', path.resolve(ctx.cwd, str(p, 'data')!)] : [])];
  const child = execa(python, args, {env: engineEnv(ctx.env), extendEnv: false, cwd: ctx.cwd, reject: false, stdin: 'ignore', buffer: false});
  child.stdout?.on('data', (b: Buffer) => ctx.stdout.write(b.toString()));
  child.stderr?.on('data', (b: Buffer) => ctx.stderr.write(b.toString()));
  const r = await child;
  return r.exitCode === 0 || r.exitCode === 2 ? r.exitCode : 1;
}

export const bench: CommandSpec = {name: 'bench', summary: 'speed and accuracy benchmarks', help: BENCH_HELP, run};
