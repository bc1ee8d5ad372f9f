// Running the built CLI and the engine the way a person does: `node dist/cli.js ...`, no shell, a private cache.
import {chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa, type ResultPromise} from 'execa';
import {resolvePython} from '../../src/core/python.js';
import {repoRoot} from '../helpers/bad-corpus.js';

export const cliJs = path.join(repoRoot, 'dist', 'cli.js');

function newestUnder(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, {recursive: true}).map(String)) newest = Math.max(newest, statSync(path.join(dir, name)).mtimeMs);
  return newest;
}

/** `npx tsc -p .` when dist/cli.js is missing or older than src/ (npm test builds first; a lone vitest run may not). */
export async function ensureBuilt(): Promise<void> {
  const fresh = () => existsSync(cliJs) && statSync(cliJs).mtimeMs >= newestUnder(path.join(repoRoot, 'src'));
  if (fresh()) return;
  const lock = path.join(os.tmpdir(), 'heartseg-reliability-build.lock');
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch {
      const held = statSync(lock, {throwIfNoEntry: false});
      if (held && Date.now() - held.mtimeMs > 300_000) unlinkSync(lock); // left by a builder that died
      await new Promise(r => setTimeout(r, 500));
      if (fresh()) return;
    }
  }
  try {
    if (!fresh()) await execa('npx', ['tsc', '-p', '.'], {cwd: repoRoot, stdin: 'ignore'});
  } finally {
    rmSync(lock, {force: true});
  }
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together */
  output: string;
}

/** The engine's interpreter, found exactly as the CLI finds it (--python, $HEARTSEG_PYTHON, the setup venv, python3). */
export async function enginePython(): Promise<string> {
  return (await resolvePython({env: process.env})).path;
}

/** Environment for CLI and engine runs: one thread, a cache under `tmp`, no inherited event descriptor. */
export function testEnv(python: string, tmp: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, HEARTSEG_PYTHON: python, HEARTSEG_CACHE: path.join(tmp, 'cache'),
    OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', NO_COLOR: '1', ...extra};
  delete env.HEARTSEG_EVENT_FD;
  delete env.HEARTSEG_DEBUG;
  return env;
}

const SETPRIV = ['setpriv', '--inh-caps=-dac_override,-dac_read_search', '--bounding-set=-dac_override,-dac_read_search'];

/**
 * How to make chmod 000 bite: [] when we are not root; as root, the setpriv prefix that drops the capabilities
 * that ignore permission bits, when it works here; null when there is no way (the case is then skipped).
 */
export async function permissionPrefix(): Promise<string[] | null> {
  if (process.getuid?.() !== 0) return [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hs-perm-'));
  try {
    const file = path.join(dir, 'locked');
    writeFileSync(file, 'x');
    chmodSync(file, 0o000);
    const r = await execa(SETPRIV[0], [...SETPRIV.slice(1), 'cat', file], {reject: false, stdin: 'ignore'});
    return r.exitCode !== 0 && /denied/i.test(String(r.stderr)) ? SETPRIV : null;
  } catch {
    return null;
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

export interface CliOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** a command prefix such as permissionPrefix()'s */
  prefix?: string[];
  timeout?: number;
}

/** Start `node dist/cli.js ARGS` (not awaited): for tests that signal it. */
export function startCli(args: string[], o: CliOptions): ResultPromise {
  const argv = [...(o.prefix ?? []), process.execPath, cliJs, ...args];
  return execa(argv[0], argv.slice(1), {cwd: o.cwd, env: o.env, extendEnv: false, reject: false, stdin: 'ignore',
    timeout: o.timeout ?? 240_000, all: true});
}

export async function cli(args: string[], o: CliOptions): Promise<CliResult> {
  const r = await startCli(args, o);
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  return {exitCode: r.exitCode ?? -1, stdout, stderr, output: `${stdout}\n${stderr}`};
}

/** Files (not folders) under `dir`, relative, recursively; [] when it does not exist. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/** Everything under `dir`, folders included: a runs folder that must stay empty. */
export function entriesUnder(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, {recursive: true}).map(String) : [];
}
