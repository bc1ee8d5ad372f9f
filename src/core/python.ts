// Which Python runs the engine: --python, $HEARTSEG_PYTHON, the venv that setup made, python3 if it imports torch.
import {accessSync, constants, existsSync, statSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {pyRoot, venvDir, venvPython} from './paths.js';

export type PythonSource = 'flag' | 'env' | 'venv' | 'path';

export interface ResolvedPython {
  path: string;
  source: PythonSource;
  /** One line for doctor: why this interpreter was chosen. */
  why: string;
}

/** No usable interpreter, or one named explicitly that does not exist (a usage problem: exit 2). */
export class PythonNotFound extends Error {
  constructor(message: string, readonly usage: boolean) {
    super(message);
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A bare name ("python3.11") is looked up on PATH; a path is taken as given. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name.includes('/') || name.includes(path.sep)) return isExecutable(name) ? path.resolve(name) : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Does this interpreter import torch? (Slow: a few seconds; only used for the last fallback and by setup.) */
export async function importsTorch(python: string): Promise<boolean> {
  try {
    const r = await execa(python, ['-c', 'import torch'], {reject: false, timeout: 120_000, stdin: 'ignore'});
    return r.exitCode === 0;
  } catch {
    return false;
  }
}

export interface ResolveOptions {
  flag?: string;
  env?: NodeJS.ProcessEnv;
  /** Skip the python3-imports-torch probe (for fast listings); the result may then be undefined. */
  probePath?: boolean;
}

export async function resolvePython(opts: ResolveOptions = {}): Promise<ResolvedPython> {
  const env = opts.env ?? process.env;
  if (opts.flag) {
    const found = findExecutable(opts.flag, env);
    if (!found) throw new PythonNotFound(`--python ${opts.flag}: no such executable`, true);
    return {path: found, source: 'flag', why: `--python ${opts.flag}`};
  }
  if (env.HEARTSEG_PYTHON) {
    const found = findExecutable(env.HEARTSEG_PYTHON, env);
    if (!found) throw new PythonNotFound(`HEARTSEG_PYTHON=${env.HEARTSEG_PYTHON}: no such executable`, true);
    return {path: found, source: 'env', why: `HEARTSEG_PYTHON=${env.HEARTSEG_PYTHON}`};
  }
  const venv = venvDir(env);
  const vpy = venvPython(venv);
  if (isExecutable(vpy)) return {path: vpy, source: 'venv', why: `the environment made by heartseg setup (${venv})`};
  const sys = findExecutable('python3', env);
  if (sys && opts.probePath !== false && (await importsTorch(sys))) {
    return {path: sys, source: 'path', why: `python3 on PATH (${sys}) imports torch`};
  }
  const tried = [`no --python`, `no HEARTSEG_PYTHON`, `no ${vpy}`, sys ? `${sys} does not import torch` : 'no python3 on PATH'];
  throw new PythonNotFound(`no Python with torch found (${tried.join('; ')}); run \`heartseg setup\` or set HEARTSEG_PYTHON`, false);
}

/** The engine's answer about an interpreter (py/heartseg/requirements.py, from requirements.txt). */
export interface PythonCheck {
  python: string;
  executable: string;
  python_ok: boolean;
  min_python: string;
  packages: Record<string, string | null>;
  problems: string[];
}

const SETUP_HINT = 'run `heartseg setup`, or point --python or HEARTSEG_PYTHON at an interpreter with torch >= 2.4';

/** Ask an interpreter what it has: `python -m heartseg.requirements` (package metadata only, well under a second).
 * Anything but one JSON answer of that shape (a program that is not Python, an old Python) is an error. */
export async function checkPython(python: string, env: NodeJS.ProcessEnv = process.env): Promise<PythonCheck | {error: string}> {
  const r = await execa(python, ['-m', 'heartseg.requirements'], {env: engineEnv(env), extendEnv: false, reject: false,
    timeout: 60_000, stdin: 'ignore'});
  const last = String(r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  try {
    const answer = JSON.parse(last) as PythonCheck;
    if (r.exitCode === 0 && answer && typeof answer === 'object' && Array.isArray(answer.problems) && answer.packages) return answer;
  } catch {
    // not JSON: said below
  }
  const said = String(r.stderr ?? '').trim().split('\n').filter(Boolean).at(-1);
  const how = r.timedOut ? 'did not answer within 60 s' : r.failed && r.exitCode === undefined ? (r.shortMessage ?? 'could not be started')
    : `gave no answer to the probe (exit ${r.exitCode ?? r.signal}${said ? `: ${said.slice(0, 200)}` : ''})`;
  return {error: how};
}

/** The interpreter, resolved and checked: a PythonNotFound naming what is wrong and how to fix it otherwise. */
export async function usablePython(opts: ResolveOptions = {}): Promise<ResolvedPython & {check: PythonCheck}> {
  const env = opts.env ?? process.env;
  const py = await resolvePython(opts);
  const usage = py.source === 'flag' || py.source === 'env';
  const check = await checkPython(py.path, env);
  if ('error' in check) throw new PythonNotFound(`not a usable Python for the engine: ${py.why} ${check.error}; ${SETUP_HINT}`, usage);
  if (check.packages.torch === null || check.packages.torch === undefined) {
    const missing = Object.entries(check.packages).filter(([, v]) => v === null).map(([k]) => k);
    throw new PythonNotFound(`no Python with torch found (${py.why}: ${py.path} lacks ${missing.join(', ')}); ${SETUP_HINT}`, usage);
  }
  if (check.problems.length) throw new PythonNotFound(`not a usable Python for the engine: ${py.why}: ${check.problems.join('; ')}; ${SETUP_HINT}`, usage);
  return {...py, check};
}

/** Environment for any engine process: the engine on PYTHONPATH, unbuffered UTF-8 output. */
export function engineEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const extra = base.PYTHONPATH ? `${path.delimiter}${base.PYTHONPATH}` : '';
  return {...base, PYTHONPATH: `${pyRoot()}${extra}`, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8'};
}

/** True when the engine package is present next to the front (a broken install otherwise). */
export function engineInstalled(): boolean {
  return existsSync(path.join(pyRoot(), 'heartseg', '__main__.py'));
}
