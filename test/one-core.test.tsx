// Issue 12's acceptance, with the real engine on synthetic data: the terminal UI and the command line are one product.
// - A run launched from the UI's configure screen (plan, then t) has the config.json of `heartseg train DATA` on the
//   same data and device (name aside).
// - Resume from the UI (Runs, r, KEY=VALUE) and from the CLI (--resume RUN --flag) accept the same changes and refuse the
//   same ones with the same message.
// - A real run's config.json and every events.jsonl line pass the validators generated from schema/*.json.
import React from 'react';
import {chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {cleanup, render} from 'ink-testing-library';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createCore, type Core} from '../src/core/api.js';
import {validateConfig} from '../src/core/config.js';
import {parseEventLine} from '../src/core/events.js';
import {CONTRACT} from '../src/core/generated/contract.js';
import {App} from '../src/ui/root.js';
import {cli, enginePython, ensureBuilt, startCli, testEnv} from './reliability/cli.js';
import {KEY, press, until} from './ui-keys.js';

const RUN = CONTRACT.run_folder;
let tmp: string;
let env: NodeJS.ProcessEnv;
let data: string;
let runs: string;
let core: Core | undefined;
let skip: string | null = null;

beforeAll(async () => {
  await ensureBuilt();
  let python: string;
  try {
    python = await enginePython();
  } catch (e) {
    skip = `no Python for the engine: ${(e as Error).message}`;
    return;
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-one-core-'));
  // Planning times a few training steps, so two plans on a busy machine differ in their step counts. Both faces run
  // the engine through this interpreter, whose step timing is a fixed stand-in: the plans (and configs) can be equal.
  const fixedTiming = path.join(tmp, 'python-fixed-timing');
  writeFileSync(fixedTiming, `#!${python}\nimport os, sys\nif sys.argv[1:3] != ['-m', 'heartseg']:\n`
    + '    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n'
    + 'from heartseg.train import runtime\n'
    + 'runtime.time_variants = lambda *a, **k: {v: 0.5 for v in a[6]}\n'
    + 'from heartseg.cli import main\nsys.exit(main(sys.argv[3:]))\n');
  chmodSync(fixedTiming, 0o755);
  env = testEnv(fixedTiming, tmp);
  data = path.join(tmp, 'synth');
  runs = path.join(tmp, 'runs');
  const r = await cli(['synth', data, '--cases', '4', '--shape', '16,24,24', '--seed', '5'], {cwd: tmp, env});
  if (r.exitCode !== 0) skip = `synth failed: ${r.output}`;
});

afterAll(async () => {
  cleanup();
  await core?.shutdown();
  if (tmp) rmSync(tmp, {recursive: true, force: true});
});

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const withoutName = ({name: _name, ...rest}: Record<string, unknown>) => rest;

async function waitFor(check: () => boolean, what: string, ms = 900_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} never happened`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!!skip)('one core for the UI and the command line (real engine)', () => {
  it('a run launched from the configure screen has the config.json of `heartseg train DATA` (name aside)', async (ctx) => {
    if (skip) return ctx.skip(skip);
    // The command line: it plans, prints the plan's reasons, starts; stopped once its config.json is written.
    const child = startCli(['train', data, '--name', 'from-cli', '--runs-dir', runs, '--ci'], {cwd: tmp, env});
    const cliConfig = path.join(runs, 'from-cli', RUN.config);
    await waitFor(() => existsSync(cliConfig) || child.exitCode !== null, 'the CLI run writing config.json');
    child.kill('SIGINT');
    const done = await child;
    expect(existsSync(cliConfig), `${done.stdout}\n${done.stderr}`).toBe(true);
    expect(done.stderr).toMatch(/^plan: data\.patch: /m);

    // The UI: heartseg DATA, t (configure, from the plan), t (train).
    core = createCore({runsDir: runs, data, env, keepBridge: true});
    const app = render(<App core={core} size={{columns: 120, rows: 40}} colour={false} initialRoute={{screen: 'configure', root: data}} />);
    const frame = await until(app.lastFrame, (f) => /plan \(cpu/.test(f) && /estimate: [\d,]+ parameters/.test(f), 900_000);
    expect(frame).toMatch(/data\.patch\s+[\d,]+\s+plan: covers/); // planned values are marked and carry their reasons
    expect(frame).toMatch(/s\/step · .* in total/); // the engine's cost model
    await press(app.stdin, 't');
    const isUiRun = (n: string) => n !== 'from-cli' && existsSync(path.join(runs, n, RUN.config));
    await waitFor(() => readdirSync(runs).some(isUiRun), 'the UI run writing config.json');
    const uiRun = readdirSync(runs).find(isUiRun)!;
    expect(uiRun).toMatch(/^synth-\d{8}-\d{6}$/);
    app.unmount();
    await core.shutdown(); // stops the UI's engine with a checkpoint request, as quitting the UI does
    core = undefined;

    const fromCli = readJson(cliConfig);
    const fromUi = readJson(path.join(runs, uiRun, RUN.config));
    expect(withoutName(fromUi)).toEqual(withoutName(fromCli));
    expect(validateConfig(fromUi).ok).toBe(true);
  }, 900_000); // two plans and two engine starts: minutes on a busy 2-core machine

  it('resume from the UI and from the CLI accept and refuse the same changes, with the same message', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const flags = ['--runs-dir', runs, '--epochs', '1', '--iters', '1', '--features', '4,8', '--patch', '16,16,16', '--batch', '1',
      '--threads', '1', '--device', 'cpu', '--no-plan'];
    const first = await cli(['train', data, '--name', 'small', ...flags], {cwd: tmp, env});
    expect(first.exitCode, first.output).toBe(0);
    const runDir = path.join(runs, 'small');
    const record = () => [RUN.config, RUN.events, RUN.last].map((f) => readFileSync(path.join(runDir, f)).toString('base64'));
    const before = record();

    // Refused: the model's patch may not change on resume.
    const refused = await cli(['train', '--resume', runDir, '--patch', '8,8,8', '--runs-dir', runs], {cwd: tmp, env});
    expect(refused.exitCode, refused.output).toBe(2);
    const refusal = refused.stderr.trim().split('\n').at(-1)!.replace(/^heartseg train: /, '');
    expect(refusal).toMatch(/patch/);
    expect(record()).toEqual(before);

    core = createCore({runsDir: runs, data, env, keepBridge: true});
    const ui = render(<App core={core} size={{columns: 160, rows: 40}} colour={false} initialRoute={{screen: 'runs', select: runDir}} />);
    await until(ui.lastFrame, (f) => f.includes('small'), 60_000);
    await press(ui.stdin, 'r', ...'patch=8,8,8'.split(''), KEY.enter);
    const shown = await until(ui.lastFrame, (f) => f.includes('refused') || f.includes('failed') || /problem/i.test(f), 300_000);
    expect(shown.replace(/\s*\n\s*/g, ' ')).toContain(refusal.slice(0, 60));
    expect(record()).toEqual(before);
    ui.unmount();

    // Accepted: more epochs, from either face.
    const accepted = await cli(['train', '--resume', runDir, '--epochs', '2', '--runs-dir', runs], {cwd: tmp, env});
    expect(accepted.exitCode, accepted.output).toBe(0);
    const job = await core.resume({run: runDir, edits: {'train.epochs': 3}}); // what the UI's prompt "epochs=3" sends
    for await (const _ of job.events) void _;
    expect((await job.done).exitCode).toBe(0);
    await core.shutdown();
    core = undefined;

    // The record: config.json and every event line pass the validators generated from schema/*.json.
    expect(validateConfig(readJson(path.join(runDir, RUN.config))).ok).toBe(true);
    const lines = readFileSync(path.join(runDir, RUN.events), 'utf8').split('\n').filter((l) => l.trim());
    const bad = lines.map((l) => [l, parseEventLine(l)] as const).filter(([, r]) => !r.ok).map(([l, r]) => `${!r.ok && r.error}: ${l}`);
    expect(bad).toEqual([]);
    const ends = lines.map((l) => JSON.parse(l) as {type: string; status?: string}).filter((e) => e.type === 'run_end');
    expect(ends.map((e) => e.status)).toEqual(['completed', 'completed', 'completed']);
  }, 900_000);
});
