// What every command shares: its context, global flags, argument parsing, path checks, running the engine headless.
import {existsSync, statSync} from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {startEngine, type EngineResult} from '../core/engine.js';
import {HeadlessReporter, type Out} from '../core/headless.js';
import {PythonNotFound, resolvePython, type ResolvedPython} from '../core/python.js';

export {type CommandIO, type Context, UsageError, Failure, type OptionSpec, GLOBAL_OPTIONS, GLOBAL_HELP} from './base.js';
import {type Context, UsageError, Failure, type OptionSpec, GLOBAL_OPTIONS, GLOBAL_HELP} from './base.js';

export interface Globals {
  runsDir: string;
  name?: string;
  python?: string;
  ci: boolean;
  json: boolean;
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  globals: Globals;
  help: boolean;
}

export function parseCommand(argv: string[], options: OptionSpec, ctx: Context): Parsed {
  let parsed;
  try {
    parsed = parseArgs({args: argv, options: {...GLOBAL_OPTIONS, ...options}, allowPositionals: true, strict: true});
  } catch (e) {
    const text = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\.$/, '').replace(/\s*\n\s*/g, ' ');
    throw new UsageError(`${text.charAt(0).toLowerCase()}${text.slice(1)} (see --help)`);
  }
  const v = parsed.values as Parsed['values'];
  return {
    values: v,
    positionals: parsed.positionals,
    help: v.help === true,
    globals: {
      runsDir: path.resolve(ctx.cwd, (v['runs-dir'] as string | undefined) ?? ctx.env.HEARTSEG_RUNS_DIR ?? 'runs'),
      name: v.name as string | undefined,
      python: v.python as string | undefined,
      ci: v.ci === true,
      json: v.json === true,
    },
  };
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.values[key];
  return typeof v === 'string' ? v : undefined;
}

/** An existing path, resolved; a UsageError naming the argument when it is missing or of the wrong kind. */
export function existingPath(ctx: Context, what: string, p: string | undefined, kind: 'file' | 'dir' | 'any' = 'any'): string {
  if (!p) throw new UsageError(`missing ${what}`);
  const abs = path.resolve(ctx.cwd, p);
  if (!existsSync(abs)) throw new UsageError(`${what} ${p}: no such ${kind === 'dir' ? 'folder' : kind === 'file' ? 'file' : 'file or folder'}`);
  const isDir = statSync(abs).isDirectory();
  if (kind === 'dir' && !isDir) throw new UsageError(`${what} ${p}: not a folder`);
  if (kind === 'file' && isDir) throw new UsageError(`${what} ${p}: is a folder, expected a file`);
  return abs;
}

export function expectPositionals(p: Parsed, min: number, max: number, usage: string): void {
  if (p.positionals.length < min) throw new UsageError(`missing argument (usage: ${usage})`);
  if (p.positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(p.positionals[max])} (usage: ${usage})`);
}

export async function python(ctx: Context, p: Parsed): Promise<ResolvedPython> {
  try {
    return await resolvePython({flag: p.globals.python, env: ctx.env});
  } catch (e) {
    if (e instanceof PythonNotFound) throw e.usage ? new UsageError(e.message) : new Failure(e.message);
    throw e;
  }
}

/** Does stdout get colours? Only a terminal, never with NO_COLOR, --ci or --json. */
export function useColor(ctx: Context, g: Globals): boolean {
  return Boolean(ctx.stdout.isTTY) && !ctx.env.NO_COLOR && !g.ci && !g.json;
}

export interface EngineRun {
  command: string;
  args: string[];
  runDir?: string;
  /** Print the engine's stdout to ours (commands whose output is the answer: plan, bench, synth). */
  relayStdout?: boolean;
  hint?: (r: EngineResult) => string | undefined;
  label?: string;
}

/** Run one engine command headless: progress lines (or --json), the engine's exit code mapped, engine.log kept. */
export async function runEngine(ctx: Context, p: Parsed, run: EngineRun): Promise<number> {
  const py = await python(ctx, p);
  // When the engine's stdout is the answer (plan --json, bench), our own lines and summary go to stderr.
  const relay = run.relayStdout === true;
  const reporter = new HeadlessReporter({
    command: run.label ?? run.command,
    out: p.globals.json || relay ? ctx.stderr : ctx.stdout,
    err: ctx.stderr,
    json: p.globals.json && !relay ? ctx.stdout : undefined,
    color: useColor(ctx, p.globals),
  });
  const engine = startEngine({python: py.path, command: run.command, args: run.args, runDir: run.runDir, cwd: ctx.cwd, env: ctx.env});
  engine.on('event', e => reporter.onEvent(e));
  engine.on('invalid', i => reporter.onInvalid(i));
  if (relay) engine.on('output', o => o.stream === 'stdout' && ctx.stdout.write(o.line + '\n'));
  const result = await engine.done;
  if (relay && result.exitCode === 0) return 0;
  return reporter.finish(result, {runDir: run.runDir && existsSync(run.runDir) ? run.runDir : undefined, hint: run.hint?.(result)});
}

export interface CommandSpec {
  name: string;
  summary: string;
  help: string;
  run(argv: string[], ctx: Context): Promise<number>;
}

/** Help text: usage lines, a description, options (with defaults), an example. */
export function helpText(parts: {usage: string[]; about: string; options?: string[]; examples: string[]}): string {
  const lines = [`Usage: ${parts.usage[0]}`, ...parts.usage.slice(1).map(u => `       ${u}`), '', parts.about, ''];
  if (parts.options?.length) lines.push('Options:', ...parts.options, '');
  lines.push(...GLOBAL_HELP, '', 'Examples:', ...parts.examples.map(e => `  ${e}`));
  return lines.join('\n') + '\n';
}
