import {appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {listRuns, runInfo} from '../src/core/runs.js';
import {followLines, watchRun} from '../src/core/watch.js';
import type {EngineEvent} from '../src/core/events.js';
import {runCli} from '../src/cli.js';

const shared = path.resolve(__dirname, '..', '..', 'shared');
const ev = (type: string, body: object) => JSON.stringify({v: 1, type, time: 1.0, ...body}) + '\n';
const start = ev('run_start', {command: 'train'});
const epochEnd = (epoch: number, dice: number, epochs = 10) => ev('epoch_end', {epoch, epochs, train_loss: 0.5, lr: 1e-3,
  seconds: 1, memory: {cpu_rss_mb: 1}, val_dice: dice, best_dice: dice});
const end = (status: string, code: number) => ev('run_end', {status, reason: status, exit_code: code});

let root: string;
const OLD = Date.now() / 1000 - 3600;

function makeRun(name: string, events: string, extra: {lock?: string; config?: object; old?: boolean; ckpt?: boolean} = {}): string {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'checkpoints'), {recursive: true});
  writeFileSync(path.join(dir, 'events.jsonl'), events);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(extra.config ?? {data: {root: '/data/x'}, train: {epochs: 10}}));
  if (extra.ckpt) writeFileSync(path.join(dir, 'checkpoints', 'last.pt'), 'x');
  if (extra.lock) writeFileSync(path.join(dir, '.lock'), extra.lock);
  if (extra.old) utimesSync(path.join(dir, 'events.jsonl'), OLD, OLD);
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'hs-runs-'));
  makeRun('done', start + epochEnd(1, 0.5) + epochEnd(2, 0.8) + end('completed', 0), {ckpt: true});
  makeRun('stopped', start + epochEnd(1, 0.4) + end('interrupted', 130), {ckpt: true, old: true});
  makeRun('running', start + epochEnd(1, 0.3), {lock: `${process.pid} ${os.hostname()}`});
  makeRun('crashed', start + epochEnd(1, 0.2), {lock: `999999 ${os.hostname()}`, old: true});
  makeRun('remote-stale', start, {lock: `123 some-other-node`, old: true});
  // resumed: an earlier interrupted segment, then a running one; the half-written last line must not break it
  makeRun('resumed', start + epochEnd(1, 0.6) + end('interrupted', 130) + start + epochEnd(2, 0.7) + '{"v":1,"type":"epo',
    {lock: `${process.pid} ${os.hostname()}`});
  mkdirSync(path.join(root, 'dataset', 'imagesTr'), {recursive: true});
  writeFileSync(path.join(root, 'dataset', 'dataset.json'), '{}');
  mkdirSync(path.join(root, 'tb-only', 'logs'), {recursive: true});
  writeFileSync(path.join(root, 'tb-only', 'logs', 'events.out.tfevents.1.host'), '');
});
afterAll(() => rmSync(root, {recursive: true, force: true}));

describe('listRuns', () => {
  it.each([
    ['done', 'completed', 2, 0.8],
    ['stopped', 'interrupted', 1, 0.4],
    ['running', 'running', 1, 0.3],
    ['crashed', 'failed', 1, 0.2],
    ['remote-stale', 'unknown', null, null],
    ['resumed', 'running', 2, 0.7],
    ['tb-only', 'tensorboard', null, null],
  ])('%s: status %s, epoch %s, best Dice %s', (name, status, epoch, best) => {
    const info = listRuns(root).find(r => r.name === name);
    expect(info?.status).toBe(status);
    expect(info?.epoch).toBe(epoch);
    expect(info?.bestDice).toBe(best);
  });

  it('leaves out folders that are not runs and lists the rest newest first', () => {
    const runs = listRuns(root);
    expect(runs.map(r => r.name)).not.toContain('dataset');
    expect(runs).toHaveLength(7);
    const times = runs.map(r => r.updated ?? 0);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(runs.find(r => r.name === 'done')).toMatchObject({dataRoot: '/data/x', checkpoints: [path.join(root, 'done', 'checkpoints', 'last.pt')], epochs: 10});
  });

  it('sees the seed TensorBoard fixture as a TensorBoard-only run', ctx => {
    const src = path.join(shared, 'fixtures', 'seed_run_tensorboard');
    if (!existsSync(src)) return ctx.skip('../shared/fixtures is not here');
    const dir = path.join(root, 'seed');
    cpSync(src, dir, {recursive: true});
    expect(runInfo(dir)?.status).toBe('tensorboard');
    rmSync(dir, {recursive: true});
  });

  it('prints a table and --json through `heartseg runs`', async () => {
    const out: string[] = [];
    const io = {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => out.push(s)}, env: {}, cwd: root};
    expect(await runCli(['runs', '--runs-dir', root], io, false)).toBe(0);
    expect(out.join('')).toMatch(/done\s+completed\s+2\/10\s+0\.8000/);
    out.length = 0;
    expect(await runCli(['runs', '--runs-dir', root, '--json'], io, false)).toBe(0);
    const doc = JSON.parse(out.join(''));
    expect(doc.runs).toHaveLength(7);
    // snake_case keys like every --json answer
    expect(doc.runs.find((r: {name: string}) => r.name === 'done')).toMatchObject({best_dice: 0.8, data_root: '/data/x', has_eval: false});
  });
});

describe('following events.jsonl', () => {
  it('delivers whole lines when the file grows mid-line and mid-character', async () => {
    const file = path.join(root, 'follow.jsonl');
    const lines: string[] = [];
    const f = followLines(file, l => lines.push(l), {pollMs: 20});
    const text = Buffer.from('first ♥\nsecond 🫀\nthird\n');
    await new Promise(r => setTimeout(r, 60)); // the file does not exist yet: the follower waits for it
    for (const cut of [[0, 8], [8, 17], [17, text.length]]) {
      appendFileSync(file, text.subarray(cut[0], cut[1]));
      await new Promise(r => setTimeout(r, 60));
    }
    f.stop();
    expect(lines).toEqual(['first ♥', 'second 🫀', 'third']);
  });

  it('watchRun replays a finished run and ends with its exit code', async () => {
    const job = watchRun(path.join(root, 'stopped'), {pollMs: 20});
    const seen: EngineEvent[] = [];
    for await (const e of job.events) seen.push(e);
    expect(await job.done).toMatchObject({exitCode: 130, status: 'interrupted', watchStopped: false});
    expect(seen.map(e => e.type)).toEqual(['run_start', 'epoch_end', 'run_end']);
  });

  it('watchRun follows a live run through a resume until its final run_end', async () => {
    const dir = makeRun('live', start + epochEnd(1, 0.1) + end('interrupted', 130) + start);
    const job = watchRun(dir, {pollMs: 20});
    const types: string[] = [];
    for await (const e of job.events) {
      types.push(e.type);
      if (types.length === 4) appendFileSync(path.join(dir, 'events.jsonl'), epochEnd(2, 0.9) + end('completed', 0));
    }
    expect((await job.done).exitCode).toBe(0);
    expect(types).toEqual(['run_start', 'epoch_end', 'run_end', 'run_start', 'epoch_end', 'run_end']);
  });
});

describe('heartseg watch stopped while the run goes on', () => {
  async function watchThenSignal(json: boolean) {
    const out: string[] = [];
    const err: string[] = [];
    const io = {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => err.push(s)}, env: {}, cwd: root};
    const code = runCli(['watch', 'running', '--runs-dir', root, ...(json ? ['--json'] : [])], io, false);
    while (!/epoch +1\/10/.test((json ? err : out).join(''))) await new Promise(r => setTimeout(r, 20));
    process.emit('SIGTERM', 'SIGTERM'); // as `timeout` or a closed session would
    return {code: await code, out: out.join(''), err: err.join('')};
  }

  it('says where it stopped and that the run is still running; exit 130, never "done"', async () => {
    const r = await watchThenSignal(false);
    expect(r.code).toBe(130);
    expect(r.out.trim().split('\n').at(-1)).toBe('stopped watching at epoch 1/10; the run is still running');
    expect(r.out).not.toMatch(/done|completed/);
  });

  it('--json: status running, watch stopped', async () => {
    const r = await watchThenSignal(true);
    expect(r.code).toBe(130);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({command: 'run', status: 'running', watch: 'stopped', exit_code: 130, epoch: 1, epochs: 10});
  });
});
