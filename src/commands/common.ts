// What every command shares: its context, global flags, argument parsing, path checks, the core, a job's lines.
import {existsSync, statSync} from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {createCore} from '../core/app/index.js';
import type {Core, Job, JobResult} from '../core/app/types.js';
import {HeadlessReporter} from '../core/headless.js';

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
  if (!existsSync(abs)) throw new UsageError(`${what} ${abs}: no such ${kind === 'dir' ? 'folder' : kind === 'file' ? 'file' : 'file or folder'}`);
  const isDir = statSync(abs).isDirectory();
  if (kind === 'dir' && !isDir) throw new UsageError(`${what} ${abs}: not a folder`);
  if (kind === 'file' && isDir) throw new UsageError(`${what} ${abs}: is a folder, expected a file`);
  return abs;
}

export function expectPositionals(p: Parsed, min: number, max: number, usage: string): void {
  if (p.positionals.length < min) throw new UsageError(`missing argument (usage: ${usage})`);
  if (p.positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(p.positionals[max])} (usage: ${usage})`);
}

/** The application core for one command: the runs folder and interpreter of the global flags; our signals reach
 * the engine (Ctrl-C, SIGTERM, a closed terminal stop it with a checkpoint). */
export function coreFor(ctx: Context, p: Parsed): Core {
  return createCore({runsDir: p.globals.runsDir, python: p.globals.python, env: ctx.env, cwd: ctx.cwd, forwardSignals: true});
}

/** Does stdout get colours? Only a terminal, never with NO_COLOR, --ci or --json. */
export function useColor(ctx: Context, g: Globals): boolean {
  return Boolean(ctx.stdout.isTTY) && !ctx.env.NO_COLOR && !g.ci && !g.json;
}

/** Follow a job headless: its lines on stdout (stderr with --json), errors on stderr, the --json object at the end.
 * Returns the exit code. */
export async function runJob(ctx: Context, p: Parsed, job: Job | Promise<Job>, o: {label: string; hint?: (r: JobResult) => string | undefined;
  data?: (r: JobResult) => Record<string, unknown>; quietStdout?: boolean}): Promise<number> {
  const reporter = new HeadlessReporter({
    command: o.label,
    out: p.globals.json || o.quietStdout ? ctx.stderr : ctx.stdout,
    err: ctx.stderr,
    json: p.globals.json ? ctx.stdout : undefined,
    color: useColor(ctx, p.globals),
  });
  const result = await reporter.follow(await job);
  return reporter.finish(result, {hint: o.hint?.(result), data: o.data?.(result)});
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
