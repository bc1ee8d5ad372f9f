import {cpSync, existsSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {runCli} from '../src/cli.js';
import {boardLogdir, freePort, startBoard} from '../src/core/board.js';
import {resolvePython} from '../src/core/python.js';

const fixture = path.resolve(__dirname, '..', '..', 'shared', 'fixtures', 'seed_run_tensorboard');
let runs: string;
let python: string | undefined;
let why = '';

beforeAll(async () => {
  runs = mkdtempSync(path.join(os.tmpdir(), 'hs-board-'));
  if (existsSync(fixture)) {
    mkdirSync(path.join(runs, 'old-run'));
    cpSync(fixture, path.join(runs, 'old-run', 'tensorboard'), {recursive: true});
  }
  try {
    python = (await resolvePython()).path;
  } catch (e) {
    why = (e as Error).message;
  }
});
afterAll(() => rmSync(runs, {recursive: true, force: true}));

async function scalars(url: string): Promise<Record<string, Record<string, unknown>>> {
  const r = await fetch(new URL('data/plugin/scalars/tags', url));
  expect(r.ok).toBe(true);
  return (await r.json()) as Record<string, Record<string, unknown>>;
}

describe('board', () => {
  it('finds free ports and prefers RUN/tensorboard as the log folder', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1024);
    mkdirSync(path.join(runs, 'with-tb', 'tensorboard'), {recursive: true});
    mkdirSync(path.join(runs, 'without-tb'), {recursive: true});
    expect(boardLogdir(path.join(runs, 'with-tb'))).toBe(path.join(runs, 'with-tb', 'tensorboard'));
    expect(boardLogdir(path.join(runs, 'without-tb'))).toBe(path.join(runs, 'without-tb'));
    rmSync(path.join(runs, 'with-tb'), {recursive: true});
    rmSync(path.join(runs, 'without-tb'), {recursive: true});
  });

  it('refuses a run without tensorboard/ or event files: exit 2, one line naming it, no TensorBoard started', async () => {
    const bare = path.join(runs, 'bare');
    mkdirSync(path.join(bare, 'checkpoints'), {recursive: true});
    const out: string[] = [];
    const err: string[] = [];
    const io = {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => err.push(s)}, env: process.env, cwd: runs};
    const code = await runCli(['board', 'bare', '--runs-dir', runs], io, false);
    rmSync(bare, {recursive: true});
    expect(code).toBe(2);
    expect(out.join('')).toBe('');
    expect(err.join('')).toBe(`heartseg board: ${bare}: no TensorBoard logs (no tensorboard/ with event files); nothing to show\n`);
  });

  it("serves the run's scalars on 127.0.0.1, then stops", async ctx => {
    if (!existsSync(fixture)) return ctx.skip('../shared/fixtures/seed_run_tensorboard is not here');
    if (!python) return ctx.skip(`no Python for the engine: ${why}`);
    const board = await startBoard(python, boardLogdir(path.join(runs, 'old-run')));
    try {
      expect(board.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const tags = await scalars(board.url);
      const tagsOfRun = Object.values(tags)[0];
      expect(Object.keys(tagsOfRun).sort()).toEqual(['LR', 'Loss/Train', 'Loss/Val']);
      const r = await fetch(new URL('data/plugin/scalars/scalars?tag=Loss%2FTrain&run=.', board.url));
      const points = (await r.json()) as [number, number, number][];
      expect(points).toHaveLength(17);
      expect(points[0][2]).toBeCloseTo(0.9463, 4);
    } finally {
      await board.stop();
    }
    await expect(fetch(board.url)).rejects.toThrow();
  });

  it('`heartseg board` prints the URL and stops on Ctrl-C', async ctx => {
    if (!existsSync(fixture)) return ctx.skip('../shared/fixtures/seed_run_tensorboard is not here');
    if (!python) return ctx.skip(`no Python for the engine: ${why}`);
    const out: string[] = [];
    const io = {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => out.push(s)}, env: process.env, cwd: runs};
    let finished = false;
    const done = runCli(['board', '--runs-dir', runs], io, false).finally(() => (finished = true));
    let url: string | undefined;
    while (!url) {
      if (finished) throw new Error(`board ended early: ${out.join('')}`);
      await new Promise(r => setTimeout(r, 200));
      url = /http:\/\/127\.0\.0\.1:\d+\//.exec(out.join(''))?.[0];
    }
    const tags = await scalars(url);
    expect(Object.keys(tags)).toEqual(['old-run/tensorboard']);
    process.emit('SIGINT', 'SIGINT');
    expect(await done).toBe(0);
  });
});
