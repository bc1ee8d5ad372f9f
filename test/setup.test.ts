import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {runCli} from '../src/cli.js';
import {requirementsHash, runSetup, setupState, SetupError, STAMP_NAME, wantDev} from '../src/core/setup.js';

let dir: string;
const log = () => (existsSync(path.join(dir, 'calls.log')) ? readFileSync(path.join(dir, 'calls.log'), 'utf8').trim().split('\n') : []);

/**
 * A stand-in interpreter: answers the set-up probe (with or without problems), records pip calls, and, as a base
 * Python, makes a "venv" by copying itself to DIR/bin/python.
 */
function fakePython(file: string, problems: string[] = []): string {
  writeFileSync(file, `#!${process.execPath}
const fs = require('fs'), path = require('path');
const a = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(path.join(path.dirname(file), '..', 'calls.log'))}, a.filter(x => !x.includes('\\n')).join(' ') + '\\n');
if (a[0] === '-m' && a[1] === 'heartseg.requirements') {
  console.log(JSON.stringify({python: '3.11.0', executable: __filename, python_ok: true, min_python: '3.10',
    packages: {torch: '2.5.0'}, problems: ${JSON.stringify(problems)}}));
} else if (a[0] === '-c') {
  process.exit(0);
} else if (a[0] === '-m' && a[1] === 'venv') {
  fs.mkdirSync(path.join(a[2], 'bin'), {recursive: true});
  fs.copyFileSync(__filename, path.join(a[2], 'bin', 'python'));
  fs.chmodSync(path.join(a[2], 'bin', 'python'), 0o755);
} else if (a[0] === '-m' && a[1] === 'pip') {
  console.log('Requirement already satisfied: numpy');
  console.log('Collecting torch>=2.4');
  console.log('Successfully installed torch-2.5.0');
}
`);
  chmodSync(file, 0o755);
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-setup-'));
  mkdirSync(path.join(dir, 'bin'));
  fakePython(path.join(dir, 'bin', 'python3'));
  fakePython(path.join(dir, 'bin', 'good-python'));
  fakePython(path.join(dir, 'bin', 'old-python'), ['torch 2.1.0 is older than 2.4']);
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));

const env = (extra: Record<string, string> = {}) => ({PATH: path.join(dir, 'bin'), HOME: dir,
  HEARTSEG_VENV: path.join(dir, 'venv'), HEARTSEG_DEV: '0', ...extra}) as NodeJS.ProcessEnv;

describe('setup', () => {
  it.each([
    [{HEARTSEG_DEV: '1'}, true],
    [{HEARTSEG_DEV: '0'}, false],
  ])('dev requirements with %j: %s', (e, want) => {
    expect(wantDev(e)).toBe(want);
    expect(requirementsHash(true)).not.toBe(requirementsHash(false));
  });

  it('creates the venv, installs the requirements with progress lines, stamps it; a second run does nothing', async () => {
    const lines: string[] = [];
    const first = await runSetup({env: env(), log: l => lines.push(l)});
    expect(first.action).toBe('installed');
    expect(first.python).toBe(path.join(dir, 'venv', 'bin', 'python'));
    const calls = log();
    expect(calls.some(c => c === `-m venv ${path.join(dir, 'venv')}`)).toBe(true);
    const pip = calls.find(c => c.startsWith('-m pip install'));
    expect(pip).toMatch(/-r \S+requirements\.txt$/);
    expect(lines).toContain('  Collecting torch>=2.4');
    expect(lines).toContain('  1 requirements already satisfied');
    const stamp = JSON.parse(readFileSync(path.join(dir, 'venv', STAMP_NAME), 'utf8'));
    expect(stamp.requirements_hash).toBe(requirementsHash(false));
    expect(setupState(env()).upToDate).toBe(true);

    const before = log().length;
    const again: string[] = [];
    const second = await runSetup({env: env(), log: l => again.push(l)});
    expect(second.action).toBe('up-to-date');
    expect(again.join('\n')).toMatch(/up to date .*nothing to do/);
    expect(log().length).toBe(before);
  });

  it('completes an existing environment when the requirements change (dev added)', async () => {
    const r = await runSetup({env: env({HEARTSEG_DEV: '1'}), log: () => undefined});
    expect(r.action).toBe('installed');
    expect(log().at(-2)).toMatch(/-r \S+requirements\.txt -r \S+requirements-dev\.txt$/);
  });

  it('is skipped when HEARTSEG_PYTHON already has what the engine needs, not when it lacks something', async () => {
    const venv = path.join(dir, 'other-venv');
    const skipped = await runSetup({env: env({HEARTSEG_PYTHON: path.join(dir, 'bin', 'good-python'), HEARTSEG_VENV: venv})});
    expect(skipped.action).toBe('skipped');
    expect(existsSync(venv)).toBe(false);
    const lines: string[] = [];
    const built = await runSetup({env: env({HEARTSEG_PYTHON: path.join(dir, 'bin', 'old-python'), HEARTSEG_VENV: venv}), log: l => lines.push(l)});
    expect(built.action).toBe('installed');
    expect(lines[0]).toMatch(/lacks: torch 2\.1\.0 is older than 2\.4/);
  });

  it('says what is missing when there is no Python to build with', async () => {
    await expect(runSetup({env: env({PATH: '/nonexistent', HEARTSEG_VENV: path.join(dir, 'none')})})).rejects.toThrow(SetupError);
    await expect(runSetup({env: env({PATH: '/nonexistent', HEARTSEG_VENV: path.join(dir, 'none')})})).rejects.toThrow(/no python3 on PATH/);
  });

  it('`heartseg setup` reports the state and exits 0; a failure is one line and exit 1', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = (e: NodeJS.ProcessEnv) => ({stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => err.push(s)}, env: e, cwd: dir});
    expect(await runCli(['setup'], io(env()), false)).toBe(0);
    out.length = 0;
    expect(await runCli(['setup'], io(env()), false)).toBe(0);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/up to date .*nothing to do/);
    expect(await runCli(['setup'], io(env({PATH: '/nonexistent', HEARTSEG_VENV: path.join(dir, 'none')})), false)).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^heartseg setup: no python3 on PATH/);
  });
});
