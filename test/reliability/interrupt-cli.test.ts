// End to end: Ctrl-C (SIGINT) to `heartseg train --ci` mid-epoch, then `train --resume`, ends exactly where an
// uninterrupted run ends. The engine is paused at a known step by py/tests/reliability_hooks.py, so the signal
// lands mid-epoch on any machine, fast or slow.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {loadSources, repoRoot, writeGoodDataset} from '../helpers/bad-corpus.js';
import {cli, enginePython, ensureBuilt, startCli, testEnv} from './cli.js';
import {hasTraceback} from './messages.js';

let tmp: string;
let env: NodeJS.ProcessEnv;
let data: string;
let hooked: string;
const ITERS = 4;

beforeAll(async () => {
  await ensureBuilt();
  const python = await enginePython();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-interrupt-cli-'));
  env = testEnv(python, tmp);
  data = writeGoodDataset(path.join(tmp, 'data'), await loadSources(python, env, tmp));
  // An "interpreter" the CLI can be pointed at: the real one, running the engine through the pause hooks.
  hooked = path.join(tmp, 'python-with-hooks');
  // Anything but the engine (the CLI's interpreter check, `-m heartseg.requirements`) goes to the real interpreter.
  writeFileSync(hooked, `#!${python}\nimport os, sys\nif sys.argv[1:3] != ['-m', 'heartseg']:\n    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n`
    + `sys.path.insert(0, ${JSON.stringify(path.join(repoRoot, 'py', 'tests'))})\n`
    + 'import reliability_hooks\nsys.exit(reliability_hooks.main(sys.argv[1:]))\n');
  chmodSync(hooked, 0o755);
  writeFileSync(path.join(tmp, 'deterministic.json'), JSON.stringify({train: {deterministic: true, tb_image_every: 100, step_event_seconds: 0}}));
});

afterAll(() => {
  if (tmp) rmSync(tmp, {recursive: true, force: true});
});

interface EpochEnd {epoch: number; train_loss: number; val_loss: number | null; val_dice: number | null; lr: number}

function epochEnds(run: string): EpochEnd[] {
  return readFileSync(path.join(run, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l))
    .filter((e: {type: string}) => e.type === 'epoch_end');
}

async function waitFor(file: string, child: {exitCode: number | null}, ms = 240_000): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(file)) {
    if (child.exitCode !== null) throw new Error(`the CLI exited (${child.exitCode}) before ${file} appeared`);
    if (Date.now() > end) throw new Error(`${file} never appeared`);
    await new Promise(r => setTimeout(r, 50));
  }
}

it('SIGINT to `heartseg train` mid-epoch exits 130 with a resume hint; --resume then equals an uninterrupted run', async () => {
  const runs = path.join(tmp, 'runs');
  const flags = ['--ci', '--runs-dir', runs, '--config', path.join(tmp, 'deterministic.json'), '--epochs', '2', '--iters', String(ITERS),
    '--features', '4,8', '--patch', '16,16,16', '--batch', '2', '--threads', '1', '--device', 'cpu', '--seed', '0'];
  const straight = await cli(['train', data, '--name', 'straight', ...flags], {cwd: tmp, env});
  expect(straight.exitCode, straight.output).toBe(0);

  const markers = path.join(tmp, 'markers');
  mkdirSync(markers);
  const hookedEnv = {...env, HEARTSEG_PYTHON: hooked, HEARTSEG_TEST_DIR: markers, HEARTSEG_TEST_PAUSE: `step:${ITERS + 2}`};
  const child = startCli(['train', data, '--name', 'cut', ...flags], {cwd: tmp, env: hookedEnv});
  await waitFor(path.join(markers, 'paused-step'), child);
  child.kill('SIGINT'); // what a terminal's Ctrl-C does to the CLI; the CLI forwards it to the engine
  await waitFor(path.join(markers, 'stop-requested'), child);
  expect(readFileSync(path.join(markers, 'stop-requested'), 'utf8')).toBe('SIGINT');
  writeFileSync(path.join(markers, 'release'), 'go');
  const cut = await child;
  const cutOut = `${cut.stdout}\n${cut.stderr}`;
  expect(cut.exitCode, cutOut).toBe(130);
  expect(cutOut).toMatch(/interrupted/);
  expect(cutOut).toMatch(/heartseg train --resume \S*cut/);
  expect(epochEnds(path.join(runs, 'cut')).map(e => e.epoch)).toEqual([1]); // stopped inside epoch 2
  expect(existsSync(path.join(runs, 'cut', '.lock'))).toBe(false);

  const resumed = await cli(['train', '--resume', 'cut', '--ci', '--runs-dir', runs], {cwd: tmp, env});
  expect(resumed.exitCode, resumed.output).toBe(0);
  expect(hasTraceback(`${straight.output}${cutOut}${resumed.output}`)).toBe(false);
  const want = epochEnds(path.join(runs, 'straight'));
  const got = epochEnds(path.join(runs, 'cut'));
  expect(got.map(e => e.epoch)).toEqual([1, 2]);
  for (const [a, b] of want.map((w, i) => [w, got[i]] as const)) {
    expect(Math.abs(a.train_loss - b.train_loss)).toBeLessThanOrEqual(1e-5);
    expect(Math.abs((a.val_loss ?? NaN) - (b.val_loss ?? NaN))).toBeLessThanOrEqual(1e-5);
    expect(Math.abs((a.val_dice ?? NaN) - (b.val_dice ?? NaN))).toBeLessThanOrEqual(1e-5);
    expect(b.lr).toBeCloseTo(a.lr, 12);
  }
});
