// Cross-validation runs in the front (issue 15): the core's fold following fed with fake fold folders and events in
// a temporary folder, the train stream translated into fold events, the reducer's folds, the headless lines.
import {appendFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {AsyncQueue} from '../src/core/app/queue.js';
import type {Job, JobResult} from '../src/core/app/types.js';
import type {EngineEvent} from '../src/core/events.js';
import {cvEvent, cvFoldCount, expandFoldFlags, foldDir, foldStates, FoldTranslator, readCv, withFolds} from '../src/core/folds.js';
import {watchFolds} from '../src/core/fold-watch.js';
import {help as trainHelp} from '../src/commands/train.js';
import {eventLine, HeadlessReporter} from '../src/core/headless.js';
import {runInfo} from '../src/core/runs.js';
import {runCli} from '../src/cli.js';
import {initialTrain, replayTrain, trainReducer} from '../src/ui/state/trainReducer.js';

let root: string;
beforeAll(() => void (root = mkdtempSync(path.join(os.tmpdir(), 'hs-folds-'))));
afterAll(() => rmSync(root, {recursive: true, force: true}));

const t = 1.0;
const ev = (type: string, body: object) => ({v: 1, type, time: t, ...body}) as EngineEvent;
const line = (e: EngineEvent) => JSON.stringify(e) + '\n';
const start = (runDir: string, command = 'train') => ev('run_start', {command, run_dir: runDir});
const epochEnd = (epoch: number, dice: number) => ev('epoch_end', {epoch, epochs: 2, train_loss: 0.5, lr: 1e-3, seconds: 1,
  memory: {cpu_rss_mb: 1}, val_dice: dice, best_dice: dice});
const finalCkpt = (runDir: string, metric: number) => ev('checkpoint', {path: path.join(runDir, 'checkpoints/final.pt'), kind: 'final', epoch: 2, metric});
const end = (status: string, code: number, best: number | null = null) => ev('run_end', {status, reason: status, exit_code: code, best_dice: best});
const summary = (mean: number, std: number) => ({'left atrium': {dice: {mean, std, median: mean, min: 0, max: 1, n: 4, n_inf: 0}}});

/** A CV parent with `folds` folds; fold k's folder gets `events` and, when done, its final.pt. */
function parent(name: string, folds: number, opts: {config?: object} = {}): string {
  const dir = path.join(root, name);
  mkdirSync(dir, {recursive: true});
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(opts.config ?? {data: {root: '/data/x', folds, fold: null}}));
  return dir;
}
function fold(dir: string, k: number, events: EngineEvent[], done = false): string {
  const sub = foldDir(dir, k);
  mkdirSync(path.join(sub, 'checkpoints'), {recursive: true});
  appendFileSync(path.join(sub, 'events.jsonl'), events.map(line).join(''));
  if (done) writeFileSync(path.join(sub, 'checkpoints', 'final.pt'), 'x');
  return sub;
}
const trained = (dir: string, k: number, dice: number) =>
  fold(dir, k, [start(foldDir(dir, k)), epochEnd(1, dice - 0.1), epochEnd(2, dice - 0.05), finalCkpt(foldDir(dir, k), dice), end('completed', 0, dice - 0.05)], true);
const writeCv = (dir: string, mean: number, std: number, postprocess?: unknown) => {
  mkdirSync(path.join(dir, 'cv'), {recursive: true});
  writeFileSync(path.join(dir, 'cv', 'summary.json'), JSON.stringify({folds: 2, cases: 4, summary: summary(mean, std), per_fold: {},
    ...(postprocess === undefined ? {} : {postprocess: {configured: ['largest', 'fill_holes'], chosen: postprocess}})}));
};

async function drain(job: Job): Promise<{events: EngineEvent[]; result: JobResult}> {
  const events: EngineEvent[] = [];
  for await (const e of job.events) events.push(e);
  return {events, result: await job.done};
}
const folds = (events: EngineEvent[]) =>
  events.filter((e) => e.type === 'fold').map((e) => (e.type === 'fold' ? [e.fold, e.status, e.val_dice ?? null] : []));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('which folder is a cross-validation parent', () => {
  it('a parent config (data.folds >= 2, data.fold null), not a fold of it, nor a plain run', () => {
    const dir = parent('which', 3);
    expect(cvFoldCount(dir)).toBe(3);
    const sub = fold(dir, 0, []);
    writeFileSync(path.join(sub, 'config.json'), JSON.stringify({data: {folds: 3, fold: 0}}));
    expect(cvFoldCount(sub)).toBeNull();
    const plain = parent('plain', 0, {config: {data: {folds: 0, fold: null}}});
    expect(cvFoldCount(plain)).toBeNull();
    // without a readable config: its folds/ folder says it (a job array whose first task has not written it yet)
    const bare = path.join(root, 'bare');
    mkdirSync(path.join(bare, 'folds', 'fold-1'), {recursive: true});
    expect(cvFoldCount(bare)).toBe(2);
  });

  it("each fold's state from its folder, and the cv summary", () => {
    const dir = parent('states', 4);
    trained(dir, 0, 0.9);
    fold(dir, 1, [start(foldDir(dir, 1)), epochEnd(1, 0.5)]);
    fold(dir, 2, [start(foldDir(dir, 2)), end('failed', 1)]);
    expect(foldStates(dir, 4).map((f) => [f.fold, f.status, f.valDice])).toEqual([[0, 'done', 0.9], [1, 'training', null], [2, 'failed', null], [3, 'pending', null]]);
    expect(readCv(dir)).toBeNull();
    writeCv(dir, 0.88, 0.03);
    expect(readCv(dir)).toMatchObject({folds: 2, cases: 4, dice: [{label: 'left atrium', mean: 0.88, std: 0.03}]});
  });
});

describe('the runs list', () => {
  it('shows a CV parent as one run: folds trained, cv Dice, the folds\' final models', () => {
    const dir = parent('listed', 2);
    trained(dir, 0, 0.9);
    fold(dir, 1, [start(foldDir(dir, 1)), end('interrupted', 130)]);
    let info = runInfo(dir)!;
    expect(info).toMatchObject({status: 'interrupted', cv: {folds: 2, done: 1, dice: null}, bestDice: null});
    expect(info.checkpoints).toEqual([path.join(foldDir(dir, 0), 'checkpoints', 'final.pt')]);
    trained(dir, 1, 0.8);
    writeCv(dir, 0.85, 0.05);
    info = runInfo(dir)!;
    expect(info).toMatchObject({status: 'completed', cv: {folds: 2, done: 2, dice: 0.85, std: 0.05}, bestDice: 0.85});
  });

  it.each([
    ['no fold started yet', 'incomplete', []],
    ['one fold trained, the others not started (as --fold N leaves them)', 'incomplete', [0]],
    ['one trained and one interrupted', 'interrupted', [0, 'interrupted']],
    ['one trained and one failed', 'failed', [0, 'failed']],
  ] as const)('a CV parent with folds left (%s) is %s', (label, expected, setup) => {
    const dir = parent(`left-${label.replace(/\W+/g, '-')}`, 3);
    setup.forEach((s, k) => (s === 0 ? trained(dir, k, 0.9) : fold(dir, k, [start(foldDir(dir, k)), end(s, s === 'failed' ? 1 : 130)])));
    expect(runInfo(dir)).toMatchObject({status: expected, cv: {folds: 3, done: setup.filter((s) => s === 0).length}});
  });

  it('heartseg runs prints an incomplete CV parent with its folds and its one fold\'s final model', async () => {
    const dir = parent(path.join('table', 'cv'), 3);
    trained(dir, 1, 0.9);
    const out: string[] = [];
    const io = {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => out.push(s)}, env: {}, cwd: root};
    expect(await runCli(['runs', '--runs-dir', path.dirname(dir)], io, false)).toBe(0);
    expect(out.join('')).toMatch(/^cv\s+incomplete\s+folds 1\/3\s+-\s+\S+ ago\s+1 fold's final\.pt$/m);
  });
});

describe('FoldTranslator: the engine stream of every fold in one job', () => {
  it('a fold start before its run_start, its completed run_end as a fold event with its final Dice; evaluations lose start and end', () => {
    const dir = '/runs/cv';
    const tr = new FoldTranslator(dir, 2);
    const f0 = `${dir}/folds/fold-0`;
    const out = [start(f0), epochEnd(1, 0.7), finalCkpt(f0, 0.81), end('completed', 0, 0.7),
      start(`${dir}/folds/fold-0/eval`, 'evaluate'), ev('eval_summary', {cases: 2, out_dir: `${f0}/eval`, summary: summary(0.8, 0.1)}), end('completed', 0)]
      .flatMap((e) => tr.translate(e));
    expect(out.map((e) => e.type)).toEqual(['fold', 'run_start', 'epoch_end', 'checkpoint', 'fold', 'eval_summary']);
    expect(folds(out)).toEqual([[0, 'started', null], [0, 'completed', 0.81]]);
  });

  it('a fold that fails: its fold event, then the run_end that ends the whole run', () => {
    const tr = new FoldTranslator('/runs/cv', 3);
    const out = [start('/runs/cv/folds/fold-1'), epochEnd(1, 0.4), end('failed', 1, 0.4)].flatMap((e) => tr.translate(e));
    expect(out.map((e) => e.type)).toEqual(['fold', 'run_start', 'epoch_end', 'fold', 'run_end']);
    expect(folds(out)).toEqual([[1, 'started', null], [1, 'failed', 0.4]]);
  });
});

/** A fake engine job whose events the test pushes. */
function fakeJob(runDir: string): {job: Job; queue: AsyncQueue<EngineEvent>; finish: (code: number) => void} {
  const queue = new AsyncQueue<EngineEvent>();
  let finish!: (code: number) => void;
  const done = new Promise<JobResult>((r) => (finish = (code) => {
    queue.end();
    r({exitCode: code, status: code === 0 ? 'completed' : 'failed', problems: [], paths: {runDir}});
  }));
  return {job: {kind: 'train', runDir, outDir: null, events: queue, stop: () => undefined, done}, queue, finish};
}

describe('cvEvent: the cv summary as an eval_summary', () => {
  it.each([
    [['largest', 'fill_holes'], ['largest', 'fill_holes']],
    [[], []],
    [undefined, null],          // a cv/ written before the choice existed
    ['largest', null],          // not a list
    [[1], null],
  ])('postprocess %j -> %j', (chosen, expected) => {
    const dir = parent(`pp-${JSON.stringify(chosen)}`, 2);
    writeCv(dir, 0.8, 0.1, chosen);
    expect(cvEvent(dir)).toMatchObject({type: 'eval_summary', cases: 4, out_dir: path.join(dir, 'cv'), postprocess: expected});
  });
});

describe('withFolds: a train/resume job of a CV parent', () => {
  it('says which folds were already trained, translates the stream, ends with the cv summary and one run_end', async () => {
    const dir = parent('resumed', 2);
    trained(dir, 0, 0.9);
    const {job, queue, finish} = fakeJob(dir);
    const wrapped = withFolds(job, dir, 2);
    const f1 = foldDir(dir, 1);
    queue.push(start(f1), epochEnd(1, 0.6), finalCkpt(f1, 0.75), end('completed', 0, 0.6));
    trained(dir, 1, 0.75);
    writeCv(dir, 0.83, 0.04, ['largest']);
    finish(0);
    const {events, result} = await drain(wrapped);
    expect(folds(events)).toEqual([[0, 'completed', 0.9], [1, 'started', null], [1, 'completed', 0.75]]);
    const cv = events.find((e) => e.type === 'eval_summary');
    expect(cv && cv.type === 'eval_summary' && cv.out_dir).toBe(path.join(dir, 'cv'));
    expect(cv && cv.type === 'eval_summary' && cv.postprocess).toEqual(['largest']); // the folds' choice, from cv/summary.json
    expect(events.at(-1)).toMatchObject({type: 'run_end', status: 'completed', exit_code: 0});
    expect(events.filter((e) => e.type === 'run_end')).toHaveLength(1);
    expect(result.paths.report).toBe(path.join(dir, 'cv'));
  });
});

describe('watchFolds: following the fold in training', () => {
  it('follows fold 0, moves on to fold 1 when it appears, ends with the cv summary', async () => {
    const dir = parent('live', 2);
    const f0 = foldDir(dir, 0);
    fold(dir, 0, [start(f0), epochEnd(1, 0.5)]);
    const job = watchFolds(dir, 2, {pollMs: 20});
    const got = drain(job);
    await sleep(150);
    fold(dir, 0, [epochEnd(2, 0.6), finalCkpt(f0, 0.7), end('completed', 0, 0.6)], true);
    await sleep(150);
    const f1 = foldDir(dir, 1);
    fold(dir, 1, [start(f1), epochEnd(1, 0.55)]);
    await sleep(150);
    fold(dir, 1, [finalCkpt(f1, 0.65), end('completed', 0, 0.55)], true);
    await sleep(150);
    writeCv(dir, 0.68, 0.02);
    const {events, result} = await got;
    expect(folds(events)).toEqual([[0, 'started', null], [0, 'completed', 0.7], [1, 'started', null], [1, 'completed', 0.65]]);
    expect(events.filter((e) => e.type === 'epoch_end')).toHaveLength(3); // both folds' epochs, once each
    expect(events.filter((e) => e.type === 'warning')).toEqual([]); // the moment between two folds is no wait to tell
    expect(events.filter((e) => e.type === 'run_start').map((e) => e.type === 'run_start' && e.run_dir)).toEqual([f0, f1]);
    expect(events.at(-2)).toMatchObject({type: 'eval_summary', out_dir: path.join(dir, 'cv')});
    expect(result).toMatchObject({exitCode: 0, watchStopped: false, paths: {report: path.join(dir, 'cv')}});
  });

  it('a job array: folds trained elsewhere are reported from their folders; without cv/ it ends saying how to write it', async () => {
    const dir = parent('array', 3);
    trained(dir, 0, 0.9);
    trained(dir, 2, 0.7);
    fold(dir, 1, [start(foldDir(dir, 1)), epochEnd(1, 0.5)]);
    const job = watchFolds(dir, 3, {pollMs: 20, settleMs: 100});
    const got = drain(job);
    await sleep(150);
    fold(dir, 1, [finalCkpt(foldDir(dir, 1), 0.8), end('completed', 0)], true);
    const {events, result} = await got;
    expect(folds(events).sort()).toEqual([[0, 'completed', 0.9], [1, 'completed', 0.8], [1, 'started', null], [2, 'completed', 0.7]]);
    const warning = events.find((e) => e.type === 'warning');
    expect(warning).toMatchObject({file: path.join(dir, 'cv'), hint: `write them with: heartseg train --resume ${dir}`});
    expect(result.exitCode).toBe(0);
  });

  it('no fold training while some wait to start: says so once, keeps waiting, then follows the fold that starts', async () => {
    const dir = parent('waiting', 3);
    trained(dir, 0, 0.9);
    const job = watchFolds(dir, 3, {pollMs: 20, waitNoteMs: 100});
    const got = drain(job);
    await sleep(400);
    const f1 = foldDir(dir, 1);
    fold(dir, 1, [start(f1), epochEnd(1, 0.5)]);
    await sleep(200);
    job.stop();
    const {events, result} = await got;
    const warnings = events.filter((e) => e.type === 'warning');
    expect(warnings).toEqual([expect.objectContaining({message: 'no fold is training; waiting for folds 1, 2 to start', file: dir,
      hint: `start them with: heartseg train --resume ${dir}; a cluster job's array tasks start them too`})]);
    expect(folds(events)).toEqual([[0, 'completed', 0.9], [1, 'started', null]]);
    expect(events.findIndex((e) => e.type === 'warning')).toBeLessThan(events.findIndex((e) => e.type === 'fold' && e.fold === 1));
    expect(result.watchStopped).toBe(true);
  });

  it('the engine still evaluating the folds for cv/ keeps it waiting', async () => {
    const dir = parent('evaluating', 2);
    trained(dir, 0, 0.9);
    trained(dir, 1, 0.8);
    // settleMs is 30 poll intervals, so only a stall of over 1.4 s on a loaded machine could end it early
    const job = watchFolds(dir, 2, {pollMs: 20, settleMs: 1500});
    const got = drain(job);
    for (let i = 0; i < 60; i++) { // fold evaluations keep writing for twice settleMs: no settling
      await sleep(50);
      mkdirSync(path.join(foldDir(dir, i % 2), 'eval'), {recursive: true});
      writeFileSync(path.join(foldDir(dir, i % 2), 'eval', 'events.jsonl'), line(start(foldDir(dir, 0), 'evaluate')));
    }
    writeCv(dir, 0.85, 0.05);
    const {events} = await got;
    expect(events.some((e) => e.type === 'warning')).toBe(false);
    expect(events.some((e) => e.type === 'eval_summary')).toBe(true);
  });

  it('a fold that failed ends the watch with its status', async () => {
    const dir = parent('failed', 2);
    trained(dir, 0, 0.9);
    fold(dir, 1, [start(foldDir(dir, 1)), epochEnd(1, 0.5), end('failed', 1)]);
    const old = Date.now() / 1000 - 3600;
    utimesSync(path.join(foldDir(dir, 1), 'events.jsonl'), old, old);
    const {events, result} = await drain(watchFolds(dir, 2, {pollMs: 20}));
    expect(folds(events)).toEqual([[0, 'completed', 0.9], [1, 'started', null], [1, 'failed', 0.5]]);
    expect(result.exitCode).toBe(1);
  });

  it('stop() ends the watch, not the run', async () => {
    const dir = parent('stopped', 2);
    fold(dir, 0, [start(foldDir(dir, 0))]);
    const job = watchFolds(dir, 2, {pollMs: 20});
    const got = drain(job);
    await sleep(100);
    job.stop();
    expect((await got).result).toMatchObject({exitCode: 130, watchStopped: true});
  });
});

const fe = (k: number, status: string, dice: number | null = null, n = 3) => ev('fold', {fold: k, folds: n, status, run_dir: `/r/folds/fold-${k}`, val_dice: dice});

describe('trainReducer: folds', () => {
  it('a strip of K folds; a fold starting gets a fresh view; the cv summary sets the cv Dice', () => {
    let s = replayTrain([fe(0, 'completed', 0.9), fe(1, 'started'), start('/r/folds/fold-1'), epochEnd(1, 0.4)]);
    expect(s.cv?.folds).toEqual([{status: 'done', valDice: 0.9}, {status: 'training', valDice: null}, {status: 'pending', valDice: null}]);
    expect(s.cv?.current).toBe(1);
    expect(s.history).toHaveLength(1);
    s = replayTrain([fe(1, 'completed', 0.8), fe(2, 'started')], s);
    expect(s.history).toEqual([]); // fold 2's own epochs from here
    expect(s.cv?.current).toBe(2);
    expect(s.end).toBeNull();
    s = trainReducer(s, ev('eval_summary', {cases: 6, out_dir: '/r/folds/fold-0/eval', summary: summary(0.1, 0.1)}));
    expect(s.cv?.cv).toBeNull(); // one fold's evaluation is not the cross-validation
    s = trainReducer(s, ev('eval_summary', {cases: 6, out_dir: '/r/cv', summary: summary(0.86, 0.04), postprocess: ['largest']}));
    expect(s.cv?.cv).toEqual({cases: 6, dice: [{label: 'left atrium', mean: 0.86, std: 0.04}]});
    expect(s.messages.at(-1)).toEqual({level: 'info', text: "the folds' ensemble post-processes with: largest (chosen on the held-out cases)"});
  });

  it('a fold started elsewhere (a job array) marks the strip but leaves the fold in view', () => {
    const s = replayTrain([fe(0, 'started'), epochEnd(1, 0.4), fe(1, 'started')]);
    expect(s.cv?.current).toBe(0);
    expect(s.history).toHaveLength(1);
    expect(s.cv?.folds.map((f) => f.status)).toEqual(['training', 'training', 'pending']);
  });

  it("a fold's end told twice (a resumed run's history, then the engine) is one message; a start told again still takes the view", () => {
    const foldLines = (st: ReturnType<typeof replayTrain>) => st.messages.map((m) => m.text).filter((t) => t.startsWith('fold '));
    let s = replayTrain([fe(2, 'completed', 0.85), fe(0, 'interrupted')]); // what readRun gives for a resumed run
    s = replayTrain([fe(2, 'completed', 0.85), fe(0, 'started'), epochEnd(1, 0.4), fe(2, 'completed', 0.86)], s);
    expect(foldLines(s)).toEqual(['fold 2/3 completed: validation Dice 0.8500', 'fold 0/3 interrupted', 'fold 0/3 started',
      'fold 2/3 completed: validation Dice 0.8600']); // news (a new Dice) is still told
    expect(s.cv?.folds[2]).toEqual({status: 'done', valDice: 0.86});
    s = replayTrain([fe(1, 'started'), fe(1, 'completed', 0.8), fe(0, 'completed', 0.9), fe(1, 'started')], s);
    expect(s.cv?.current).toBe(1);
  });

  it('a plain run has no folds', () => {
    expect(replayTrain([start('/r'), epochEnd(1, 0.4)]).cv).toBeNull();
    expect(initialTrain.cv).toBeNull();
  });
});

describe('headless lines', () => {
  it('one line when a fold starts and ends, and the cv Dice in the summary', () => {
    expect(eventLine(fe(1, 'started', null, 5))).toBe('fold 1/5: training in /r/folds/fold-1');
    expect(eventLine(fe(1, 'completed', 0.91234, 5))).toBe('fold 1/5 completed: validation Dice 0.9123');
    const out: string[] = [];
    const r = new HeadlessReporter({command: 'train', out: {write: (s) => out.push(s)}, now: () => 0});
    for (const e of [fe(0, 'started', null, 2), fe(0, 'started', null, 2), fe(0, 'completed', 0.9, 2),
      ev('eval_summary', {cases: 4, out_dir: '/r/cv', summary: summary(0.86, 0.04), postprocess: []})]) r.onEvent(e);
    r.finish({exitCode: 0, status: 'completed', problems: [], paths: {runDir: '/r'}});
    const text = out.join('');
    expect(text.match(/fold 0\/2: training/g)).toHaveLength(1); // told once per change
    expect(text).toContain('cross-validation: 4 cases -> /r/cv');
    expect(text).toContain("the folds' ensemble post-processes with: none (chosen on the held-out cases)");
    expect(text).toMatch(/train done in .*, 2 folds, cv Dice 0\.860 ± 0\.040 \(left atrium\); run folder \/r\n$/);
  });
});

describe('expandFoldFlags: the cross-validation shorthands', () => {
  it.each([
    [['data', '--folds'], ['data', '--folds', '5']],
    [['data', '--folds', '--epochs', '2'], ['data', '--folds', '5', '--epochs', '2']],
    [['--folds', 'data'], ['--folds', '5', 'data']],
    [['data', '--folds', '3'], ['data', '--folds', '3']],
    [['data', '--folds=4'], ['data', '--folds=4']],
    [['data', '--all'], ['data', '--folds', '5', '--fold', 'all']],
    [['data', '--all', '--folds', '10'], ['data', '--folds', '10', '--fold', 'all']],
    [['data', '--epochs', '2'], ['data', '--epochs', '2']],
    [['data', '--', '--all'], ['data', '--', '--all']],
  ])('%j -> %j', (argv, expected) => {
    expect(expandFoldFlags(argv)).toEqual(expected);
  });

  it('refuses --all with --fold', () => {
    expect(() => expandFoldFlags(['data', '--all', '--fold', '2'])).toThrow(/--all .* cannot be combined with --fold/);
  });

  it('train --help lists --folds once, with its bare form on the same line', () => {
    const lines = trainHelp.split('\n').filter((l) => /^\s+--folds\b/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/--folds K .*--folds with no number means 5/);
    expect(trainHelp.match(/^\s+--all\b/gm)).toHaveLength(1);
  });
});
