// The engine's Python environment: a venv outside the clone, built from requirements.txt, idempotent via a stamp.
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {LineSplitter} from './lines.js';
import {isGitCheckout, pkgRoot, venvDir, venvPython} from './paths.js';
import {checkPython, findExecutable} from './python.js';

export const STAMP_NAME = 'heartseg-setup.json';

export interface Probe {
  python: string;
  packages: Record<string, string | null>;
  problems: string[];
}

/** Does this interpreter have what the engine needs? (requirements.txt, through py/heartseg/requirements.py) */
export async function probeInterpreter(python: string, env: NodeJS.ProcessEnv = process.env): Promise<Probe> {
  const check = await checkPython(python, env);
  if ('error' in check) return {python: '?', packages: {}, problems: [`${python} ${check.error}`]};
  return check;
}

export function wantDev(env: NodeJS.ProcessEnv): boolean {
  if (env.HEARTSEG_DEV !== undefined) return env.HEARTSEG_DEV === '1';
  return isGitCheckout();
}

export function requirementFiles(dev: boolean): string[] {
  const files = [path.join(pkgRoot(), 'requirements.txt')];
  const devFile = path.join(pkgRoot(), 'requirements-dev.txt');
  if (dev && existsSync(devFile)) files.push(devFile);
  return files;
}

export function requirementsHash(dev: boolean): string {
  const h = createHash('sha256');
  for (const f of requirementFiles(dev)) h.update(`${path.basename(f)}\n`).update(readFileSync(f));
  return h.digest('hex').slice(0, 16);
}

export interface SetupState {
  venv: string;
  python: string;
  exists: boolean;
  dev: boolean;
  wanted: string;
  stamp: {requirements_hash: string; dev: boolean; time: string; python: string} | null;
  upToDate: boolean;
}

export function setupState(env: NodeJS.ProcessEnv = process.env): SetupState {
  const venv = venvDir(env);
  const python = venvPython(venv);
  const dev = wantDev(env);
  const wanted = requirementsHash(dev);
  let stamp: SetupState['stamp'] = null;
  try {
    stamp = JSON.parse(readFileSync(path.join(venv, STAMP_NAME), 'utf8'));
  } catch {
    stamp = null;
  }
  const exists = existsSync(python);
  return {venv, python, exists, dev, wanted, stamp, upToDate: exists && stamp?.requirements_hash === wanted};
}

export interface SetupResult {
  action: 'skipped' | 'up-to-date' | 'installed';
  python: string;
  message: string;
}

export class SetupError extends Error {}

async function basePython(env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<string> {
  const name = env.HEARTSEG_BASE_PYTHON ?? 'python3';
  const found = findExecutable(name, env) ?? (name === 'python3' ? findExecutable('python', env) : undefined);
  if (!found) throw new SetupError(`no ${name} on PATH to create the environment with; install Python >= 3.10 or set HEARTSEG_PYTHON`);
  const check = await checkPython(found, env);
  if ('error' in check) throw new SetupError(`${found} is not a usable Python: it ${check.error} (set HEARTSEG_BASE_PYTHON)`);
  if (!check.python_ok) throw new SetupError(`${found} is Python ${check.python}; the engine needs >= ${check.min_python} (set HEARTSEG_BASE_PYTHON)`);
  const r = await execa(found, ['-c', 'import venv'], {reject: false, stdin: 'ignore'});
  if (r.exitCode !== 0) throw new SetupError(`${found} cannot create environments (the venv module is missing; on Debian/Ubuntu: apt install python3-venv)`);
  const version = check.python;
  log(`setup: using ${found} (Python ${version})`);
  return found;
}

/** Stream a command's output, keeping only lines that show progress. */
async function runLogged(file: string, args: string[], log: (l: string) => void, env: NodeJS.ProcessEnv): Promise<void> {
  const child = execa(file, args, {reject: false, buffer: false, stdin: 'ignore', env, all: true});
  const tail: string[] = [];
  let satisfied = 0;
  const lines = new LineSplitter(line => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
    if (/^Requirement already satisfied/.test(line)) satisfied += 1;
    else if (/^(Collecting|Downloading|Installing|Successfully|Building|ERROR|WARNING: Retrying)/.test(line.trim())) log(`  ${line.trim()}`);
  });
  child.all?.on('data', (b: Buffer) => lines.push(b));
  const r = await child;
  lines.end();
  if (satisfied) log(`  ${satisfied} requirements already satisfied`);
  if (r.exitCode !== 0) throw new SetupError(`${path.basename(file)} ${args.slice(0, 3).join(' ')} failed (exit ${r.exitCode}):\n${tail.join('\n')}`);
}

export interface SetupOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Reinstall even when the stamp says the environment is up to date. */
  force?: boolean;
}

export async function runSetup(opts: SetupOptions = {}): Promise<SetupResult> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  if (env.HEARTSEG_PYTHON) {
    const probe = await probeInterpreter(env.HEARTSEG_PYTHON, env);
    if (!probe.problems.length) {
      const message = `HEARTSEG_PYTHON=${env.HEARTSEG_PYTHON} has what the engine needs (torch ${probe.packages.torch}); nothing to install`;
      log(`setup: ${message}`);
      return {action: 'skipped', python: env.HEARTSEG_PYTHON, message};
    }
    log(`setup: HEARTSEG_PYTHON=${env.HEARTSEG_PYTHON} lacks: ${probe.problems.join('; ')}; setting up the heartseg environment instead`);
  }
  const state = setupState(env);
  if (state.upToDate && !opts.force) {
    const message = `${state.venv} is up to date (requirements ${state.wanted}${state.dev ? ', with dev' : ''}); nothing to do`;
    log(`setup: ${message}`);
    return {action: 'up-to-date', python: state.python, message};
  }
  if (!state.exists) {
    const base = await basePython(env, log);
    log(`setup: creating the environment ${state.venv}`);
    mkdirSync(path.dirname(state.venv), {recursive: true});
    await runLogged(base, ['-m', 'venv', state.venv], log, env);
  } else {
    log(`setup: completing the existing environment ${state.venv}${state.stamp ? ' (requirements changed)' : ''}`);
  }
  const files = requirementFiles(state.dev);
  log(`setup: installing ${files.map(f => path.basename(f)).join(' + ')} (torch is large: the first time takes minutes)`);
  const extra = env.HEARTSEG_TORCH_INDEX ? ['--extra-index-url', env.HEARTSEG_TORCH_INDEX] : [];
  const pipEnv = {...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONUNBUFFERED: '1'};
  await runLogged(state.python, ['-m', 'pip', 'install', '--progress-bar', 'off', ...extra, ...files.flatMap(f => ['-r', f])], log, pipEnv);
  log('setup: checking the environment');
  const probe = await probeInterpreter(state.python, env);
  if (probe.problems.length) throw new SetupError(`the new environment is incomplete: ${probe.problems.join('; ')}`);
  writeFileSync(path.join(state.venv, STAMP_NAME), JSON.stringify({requirements_hash: state.wanted, dev: state.dev,
    time: new Date().toISOString(), python: probe.python}, null, 2) + '\n');
  const message = `${state.venv} is ready (Python ${probe.python}, torch ${probe.packages.torch})`;
  log(`setup: ${message}`);
  return {action: 'installed', python: state.python, message};
}
