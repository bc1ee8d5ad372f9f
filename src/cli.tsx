#!/usr/bin/env node
// heartseg: the terminal UI in a terminal without a command; every command headless (plain lines or --json).
import {existsSync, readFileSync, realpathSync, statSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import type {CommandSpec} from './commands/common.js';
import {type Context, Failure, GLOBAL_HELP, GLOBAL_OPTIONS, UsageError} from './commands/base.js';
import {pkgRoot} from './core/paths.js';

type Loader = () => Promise<CommandSpec>;

/** Commands load lazily so `heartseg runs` never pays for React, Ink or zod schemas it does not use. */
const COMMANDS: Record<string, {summary: string; load: Loader}> = {
  demo: {summary: 'synthetic data -> train -> evaluate, in minutes on a CPU', load: async () => (await import('./commands/demo.js')).demo},
  train: {summary: 'train a model on a dataset', load: async () => (await import('./commands/train.js')).train},
  evaluate: {summary: 'evaluate a run or checkpoint on a dataset', load: async () => (await import('./commands/evaluate.js')).evaluate},
  predict: {summary: 'segment images with a run or checkpoint', load: async () => (await import('./commands/predict.js')).predict},
  score: {summary: 'score label maps against references', load: async () => (await import('./commands/score.js')).score},
  inspect: {summary: 'describe a checkpoint', load: async () => (await import('./commands/inspect.js')).inspect},
  runs: {summary: 'list runs with status, epochs and best Dice', load: async () => (await import('./commands/runs.js')).runs},
  watch: {summary: "follow a run's progress live", load: async () => (await import('./commands/watch.js')).watch},
  board: {summary: 'TensorBoard for a run or all runs', load: async () => (await import('./commands/board.js')).board},
  slurm: {summary: 'sbatch script for cluster training', load: async () => (await import('./commands/slurm.js')).slurm},
  synth: {summary: 'write a synthetic dataset', load: async () => (await import('./commands/synth.js')).synth},
  info: {summary: 'NIfTI header summary', load: async () => (await import('./commands/info.js')).infoCommand},
  analyze: {summary: 'dataset statistics and slices (no Python)', load: async () => (await import('./commands/analyze.js')).analyzeCommand},
  plan: {summary: 'propose a config for a dataset and device', load: async () => (await import('./commands/plan.js')).plan},
  export: {summary: "write a run's model to one file", load: async () => (await import('./commands/export.js')).exportCommand},
  bench: {summary: 'speed and accuracy benchmarks', load: async () => (await import('./commands/bench.js')).bench},
  doctor: {summary: 'check Python, torch, CUDA, TensorBoard, set-up', load: async () => (await import('./commands/doctor.js')).doctor},
  setup: {summary: "create or update the engine's Python environment", load: async () => (await import('./commands/setup.js')).setup},
};

function version(): string {
  return (JSON.parse(readFileSync(path.join(pkgRoot(), 'package.json'), 'utf8')) as {version: string}).version;
}

export function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map(k => k.length)) + 2;
  return [
    `heartseg ${version()}: train, evaluate and apply 3D U-Nets that segment the heart in MRI.`,
    '',
    'Usage: heartseg                      the terminal UI (in a terminal)',
    '       heartseg COMMAND [options]    one command, plain output (see heartseg COMMAND --help)',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}${c.summary}`),
    '',
    ...GLOBAL_HELP,
    '  --version           print the version',
    '',
    'Examples:',
    '  heartseg demo',
    '  heartseg train ../data/Task02_Heart --preset demo --epochs 5',
    '  heartseg evaluate runs/Task02_Heart-20250101-120000',
    '',
  ].join('\n');
}

/** Index of the command word: the first argument that is neither a flag nor a global flag's value. */
export function commandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith('-')) return i;
    const name = a.replace(/^--?/, '');
    if (!a.includes('=') && GLOBAL_OPTIONS[name]?.type === 'string') i++;
  }
  return -1;
}

function globalValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  return argv.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

async function openUi(argv: string[], ctx: Context, data?: string): Promise<number> {
  const runsDir = path.resolve(ctx.cwd, globalValue(argv, 'runs-dir') ?? ctx.env.HEARTSEG_RUNS_DIR ?? 'runs');
  const {runApp} = await import('./ui/app.js');
  return runApp({runsDir, python: globalValue(argv, 'python'), data, cwd: ctx.cwd});
}

export async function main(argv: string[], ctx: Context, interactive: boolean): Promise<number> {
  const at = commandIndex(argv);
  const word = at >= 0 ? argv[at] : undefined;
  const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 1)] : argv;
  const headless = argv.includes('--ci') || argv.includes('--json') || !interactive;
  if (argv.includes('--version')) return ctx.stdout.write(version() + '\n'), 0;
  if (word === undefined) {
    if (argv.includes('--help') || argv.includes('-h')) return ctx.stdout.write(topHelp()), 0;
    if (!headless) return openUi(argv, ctx);
    ctx.stderr.write(topHelp());
    ctx.stderr.write('heartseg: no command given (the terminal UI needs a terminal; use a command or see above)\n');
    return 2;
  }
  if (word === 'help') {
    const topic = rest.find(a => !a.startsWith('-'));
    if (!topic) return ctx.stdout.write(topHelp()), 0;
    return main([topic, '--help'], ctx, interactive);
  }
  const entry = COMMANDS[word];
  if (!entry) {
    // `heartseg DATA` in a terminal opens the UI on that dataset.
    const dir = path.resolve(ctx.cwd, word);
    if (!headless && existsSync(dir) && statSync(dir).isDirectory()) return openUi(rest, ctx, dir);
    throw new UsageError(`unknown command ${JSON.stringify(word)} (commands: ${Object.keys(COMMANDS).join(', ')})`);
  }
  const spec = await entry.load();
  try {
    return await spec.run(rest, ctx);
  } catch (e) {
    if (e instanceof UsageError || e instanceof Failure) e.command ??= word;
    throw e;
  }
}

/** Errors as one line: 2 for usage and input, 1 for failures; a stack only with HEARTSEG_DEBUG=1. */
export async function runCli(argv: string[], ctx: Context, interactive: boolean): Promise<number> {
  try {
    return await main(argv, ctx, interactive);
  } catch (e) {
    const err = e as Error;
    const known = e instanceof UsageError || e instanceof Failure;
    const command = known ? e.command : undefined;
    const who = `heartseg${command ? ` ${command}` : ''}`;
    const code = e instanceof UsageError ? 2 : 1;
    const text = `${e instanceof UsageError || e instanceof Failure ? '' : 'internal error: '}${err.message}`;
    ctx.stderr.write(`${who}: ${text}\n`);
    const hint = known ? e.hint : undefined;
    if (hint) ctx.stderr.write(`${hint}\n`);
    if (!known && ctx.env.HEARTSEG_DEBUG) ctx.stderr.write(`${err.stack}\n`);
    // --json promises one JSON document on stdout, refusals included
    if (argv.includes('--json')) {
      ctx.stdout.write(JSON.stringify({command: command ?? null, status: code === 2 ? 'bad_input' : 'failed', exit_code: code, problems: [text]}) + '\n');
    }
    return code;
  }
}

function isMain(): boolean {
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  const ctx: Context = {stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd()};
  const interactive = Boolean(process.stdout.isTTY && process.stdin.isTTY);
  // A reader that went away (`heartseg runs | head -1`) ends us quietly instead of with an EPIPE trace.
  process.stdout.on('error', () => process.exit(process.exitCode ?? 0));
  const code = await runCli(process.argv.slice(2), ctx, interactive);
  // Let buffered output reach a pipe before leaving; nothing else may keep us alive.
  process.stdout.write('', () => process.exit(code));
}
