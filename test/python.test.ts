import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {PythonNotFound, resolvePython} from '../src/core/python.js';
import {askEngine, closeBridge, jsonAnswer} from '../src/core/pythonia.js';

let dir: string;
/** An executable that pretends to be Python: for `-m heartseg doctor` it prints one JSON line; otherwise it exits 3. */
function fakePython(file: string, marker = 'fake'): string {
  writeFileSync(file, `#!${process.execPath}
const a = process.argv.slice(2);
if (a[0] === '-m' && a[1] === 'heartseg' && a[2] === 'doctor') { console.log(JSON.stringify({fake: '${marker}'})); process.exit(0); }
if (a[0] === '-c' && a[1] === 'import torch') process.exit(${marker === 'torch' ? 0 : 1});
process.exit(3);
`);
  chmodSync(file, 0o755);
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-python-'));
  mkdirSync(path.join(dir, 'bin'));
  mkdirSync(path.join(dir, 'venv', 'bin'), {recursive: true});
  fakePython(path.join(dir, 'flag-python'));
  fakePython(path.join(dir, 'bin', 'envpython'));
  fakePython(path.join(dir, 'venv', 'bin', 'python'));
  fakePython(path.join(dir, 'bin', 'python3'), 'torch');
});
afterAll(() => {
  closeBridge();
  rmSync(dir, {recursive: true, force: true});
});

describe('resolvePython: --python, HEARTSEG_PYTHON, the setup venv, python3 with torch', () => {
  const env = () => ({PATH: path.join(dir, 'bin'), HOME: dir, HEARTSEG_VENV: path.join(dir, 'venv')});

  it.each([
    ['the flag wins', {flag: 'FLAG', env: {HEARTSEG_PYTHON: 'envpython'}}, 'flag', 'flag-python'],
    ['then HEARTSEG_PYTHON (a name on PATH)', {env: {HEARTSEG_PYTHON: 'envpython'}}, 'env', 'bin/envpython'],
    ['then the venv', {env: {}}, 'venv', 'venv/bin/python'],
    ['then python3 if it imports torch', {env: {HEARTSEG_VENV: '/nonexistent'}}, 'path', 'bin/python3'],
  ])('%s', async (_name, opts, source, file) => {
    const r = await resolvePython({flag: opts.flag ? path.join(dir, 'flag-python') : undefined,
      env: {...env(), ...opts.env} as NodeJS.ProcessEnv});
    expect(r.source).toBe(source);
    expect(r.path).toBe(path.join(dir, file));
    expect(r.why.length).toBeGreaterThan(5);
  });

  it('refuses a --python or HEARTSEG_PYTHON that does not exist, as a usage error', async () => {
    await expect(resolvePython({flag: '/no/such/python', env: env()})).rejects.toMatchObject({usage: true});
    await expect(resolvePython({env: {...env(), HEARTSEG_PYTHON: '/no/such/python'}})).rejects.toThrow(/HEARTSEG_PYTHON/);
  });

  it('explains what it tried when nothing fits', async () => {
    const e = await resolvePython({env: {PATH: '/nonexistent', HOME: dir, HEARTSEG_VENV: '/nonexistent'}}).catch(x => x);
    expect(e).toBeInstanceOf(PythonNotFound);
    expect(e.usage).toBe(false);
    expect(e.message).toMatch(/heartseg setup/);
    expect(e.message).toMatch(/no python3 on PATH/);
  });
});

describe('short questions through pythonia, with a process as fallback', () => {
  let python: string | undefined;
  let why = '';
  beforeAll(async () => {
    try {
      python = (await resolvePython()).path;
    } catch (e) {
      why = (e as Error).message;
    }
  });

  it('answers the same through pythonia and through a process', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${why}`);
    const viaBridge = await askEngine(python, ['config', '--defaults'], {via: 'pythonia'});
    const viaProcess = await askEngine(python, ['config', '--defaults'], {via: 'process'});
    expect(viaBridge.via).toBe('pythonia');
    expect(viaProcess.via).toBe('process');
    expect(viaBridge.code).toBe(0);
    expect(jsonAnswer(viaBridge)).toEqual(jsonAnswer(viaProcess));
  });

  it('passes on exit codes and messages of refused questions (exit 2)', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${why}`);
    const a = await askEngine(python, ['config', '--check', '/no/such/config.json'], {via: 'pythonia'});
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('/no/such/config.json');
    expect(a.stdout).toBe('');
  });

  it('keeps one bridge for several questions when asked to (the UI)', async ctx => {
    if (!python) return ctx.skip(`no Python for the engine: ${why}`);
    const first = await askEngine(python, ['config', '--defaults'], {keepOpen: true, via: 'pythonia'});
    const second = await askEngine(python, ['config', '--defaults'], {keepOpen: true, via: 'pythonia'});
    closeBridge();
    expect(second.stdout).toBe(first.stdout);
  });

  it('falls back to a one-shot process when the bridge cannot start (the interpreter is not a real Python)', async () => {
    const fake = path.join(dir, 'flag-python');
    const a = await askEngine(fake, ['doctor'], {timeoutMs: 20_000});
    expect(a.via).toBe('process');
    expect(a.fallbackReason).toMatch(/exited|longer/);
    expect(jsonAnswer(a)).toEqual({fake: 'fake'});
  });

  it('shows why the fallback exists: a pythonia call never settles once its Python process has died', async () => {
    closeBridge();
    const saved = process.env.PYTHON_BIN;
    process.env.PYTHON_BIN = path.join(dir, 'flag-python');
    const imported = (await import('pythonia')) as any;
    const mod = imported.default ?? imported;
    let settled = false;
    mod.python('sys').then(() => (settled = true), () => (settled = true));
    await new Promise(r => mod.com.proc.exitCode !== null ? r(undefined) : mod.com.proc.once('exit', r));
    await new Promise(r => setTimeout(r, 1000));
    mod.python.exit();
    process.env.PYTHON_BIN = saved;
    expect(settled).toBe(false);
  });
});
