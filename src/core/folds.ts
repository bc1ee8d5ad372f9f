// Cross-validation runs (RUN/folds/fold-k, then RUN/cv/): which folder is one, where each fold stands, and the
// train/watch streams of such a run turned into fold events (started/completed per fold, then the cv summary).
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {AsyncQueue} from './app/queue.js';
import type {Job, JobResult} from './app/types.js';
import {type EngineEvent, type EventOf, metricNumber} from './events.js';
import {CONTRACT} from './generated/contract.js';
import {fmtSteps} from './format.js';
import {readEvents} from './runs.js';
import {watchRun} from './watch.js';

const RUN = CONTRACT.run_folder;
const now = () => Date.now() / 1000;

export type FoldStatus = 'pending' | 'training' | 'done' | 'failed' | 'interrupted';
export interface FoldState {
  fold: number;
  status: FoldStatus;
  valDice: number | null;
  runDir: string;
}
/** One label's cross-validated Dice over every case. */
export interface CvDice {
  label: string;
  mean: number;
  std: number;
}
export interface CvSummary {
  folds: number;
  cases: number;
  dice: CvDice[];
  dir: string;
}

/** A fold's sub-run: RUN/folds/fold-k. */
export function foldDir(runDir: string, fold: number): string {
  return path.join(runDir, RUN.fold_dir.replace('{fold}', String(fold)));
}

/** The folds' indices found in RUN/folds/ (fold-k folders), sorted. */
function foundFolds(runDir: string): number[] {
  const prefix = path.basename(RUN.fold_dir.replace('{fold}', ''));
  try {
    return readdirSync(path.join(runDir, RUN.folds), {withFileTypes: true})
      .filter((e) => e.isDirectory() && e.name.startsWith(prefix) && /^\d+$/.test(e.name.slice(prefix.length)))
      .map((e) => Number(e.name.slice(prefix.length))).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** K when a config's data section asks for every fold of a cross-validation (data.folds K >= 2, no data.fold). */
export function everyFoldCount(data: {folds?: unknown; fold?: unknown} | undefined): number | null {
  return data && typeof data.folds === 'number' && data.folds >= 2 && (data.fold === null || data.fold === undefined) ? data.folds : null;
}

/** K when RUN is a cross-validation parent (config data.folds >= 2 with data.fold null, or a folds/ folder without
 * checkpoints of its own), else null. */
export function cvFoldCount(runDir: string): number | null {
  let data: {folds?: unknown; fold?: unknown} | undefined;
  try {
    data = JSON.parse(readFileSync(path.join(runDir, RUN.config), 'utf8'))?.data;
  } catch {
    data = undefined;
  }
  const every = everyFoldCount(data);
  if (every) return every;
  if (data && data.fold !== null && data.fold !== undefined) return null; // one fold's own run
  if (existsSync(path.join(runDir, RUN.checkpoints))) return null;
  const found = foundFolds(runDir);
  return found.length ? Math.max(...found) + 1 : null;
}

/** A fold's validation Dice from its events: the final model's (its checkpoint metric), else the run's best. */
export function foldDice(events: EngineEvent[]): number | null {
  let final: number | null = null;
  let best: number | null = null;
  for (const e of events) {
    if (e.type === 'checkpoint' && e.kind === 'final' && typeof e.metric === 'number') final = e.metric;
    if (e.type === 'run_end' && typeof e.best_dice === 'number') best = e.best_dice;
    if (e.type === 'epoch_end' && typeof e.val_dice === 'number') best = Math.max(best ?? -1, e.best_dice ?? e.val_dice);
  }
  return final ?? best;
}

/** Where fold k stands, from its folder: done (final.pt), failed/interrupted (its last record ended so), training
 * (it has events), else pending. */
export function foldState(runDir: string, fold: number): FoldState {
  const dir = foldDir(runDir, fold);
  const base = {fold, runDir: dir, valDice: null};
  if (!existsSync(path.join(dir, RUN.events))) return {...base, status: 'pending'};
  const events = readEvents(dir);
  if (existsSync(path.join(dir, RUN.final))) return {...base, status: 'done', valDice: foldDice(events)};
  const last = events.filter((e) => e.type === 'run_start' || e.type === 'run_end').at(-1);
  const status: FoldStatus = last?.type === 'run_end' && last.status !== 'completed' ? last.status : 'training';
  return {...base, status};
}

export function foldStates(runDir: string, folds: number): FoldState[] {
  return Array.from({length: folds}, (_, k) => foldState(runDir, k));
}

/** RUN/cv/summary.json (written once every fold has its final model), or null. */
export function readCv(runDir: string): CvSummary | null {
  const dir = path.join(runDir, RUN.cv);
  let doc: {folds?: number; cases?: number; summary?: Record<string, Record<string, {mean?: unknown; std?: unknown}>>};
  try {
    doc = JSON.parse(readFileSync(path.join(runDir, RUN.cv_summary), 'utf8'));
  } catch {
    return null;
  }
  const dice = Object.entries(doc.summary ?? {}).filter(([, m]) => m?.dice)
    .map(([label, m]) => ({label, mean: metricNumber(m.dice.mean as never), std: metricNumber(m.dice.std as never)}));
  return {folds: doc.folds ?? 0, cases: doc.cases ?? 0, dice, dir};
}

/** The cv summary as the event a finished evaluation sends (out_dir RUN/cv), for one path through the screens. */
export function cvEvent(runDir: string): EventOf<'eval_summary'> | null {
  const dir = path.join(runDir, RUN.cv);
  let doc: {cases?: number; summary?: EventOf<'eval_summary'>['summary']; postprocess?: {chosen?: unknown}};
  try {
    doc = JSON.parse(readFileSync(path.join(runDir, RUN.cv_summary), 'utf8'));
  } catch {
    return null;
  }
  const chosen = doc.postprocess?.chosen;
  const postprocess = Array.isArray(chosen) && chosen.every((s) => typeof s === 'string') ? chosen as string[] : null;
  return {v: 1, type: 'eval_summary', time: now(), cases: doc.cases ?? 0, out_dir: dir, summary: doc.summary ?? {}, postprocess};
}

/** What the folds chose for their ensemble's post-processing, as headless and the Train screen say it. */
export function ensemblePostprocessText(steps: readonly string[]): string {
  return `the folds' ensemble post-processes with: ${fmtSteps(steps)} (chosen on the held-out cases)`;
}

/** True for the eval_summary of a cross-validation (out_dir RUN/cv), not of one fold's evaluation. */
export function isCvSummary(e: EngineEvent): boolean {
  return e.type === 'eval_summary' && path.basename(e.out_dir) === RUN.cv;
}

export function foldEvent(runDir: string, fold: number, folds: number, status: EventOf<'fold'>['status'], valDice: number | null = null): EventOf<'fold'> {
  return {v: 1, type: 'fold', time: now(), fold, folds, status, run_dir: foldDir(runDir, fold), val_dice: valDice};
}

/** The state a fold event puts its fold in (a pending fold has had no event). */
export const FOLD_STATE: Record<EventOf<'fold'>['status'], FoldStatus> = {started: 'training', completed: 'done', failed: 'failed', interrupted: 'interrupted'};
const EVENT_OF_STATE = new Map(Object.entries(FOLD_STATE).map(([event, state]) => [state, event as EventOf<'fold'>['status']]));

/** Where each fold of a cross-validation parent stands, as the fold events a watch would have sent (pending: none). */
export function foldsRecord(runDir: string, folds: number): EventOf<'fold'>[] {
  return foldStates(runDir, folds).flatMap((s) => {
    const status = EVENT_OF_STATE.get(s.status);
    return status ? [foldEvent(runDir, s.fold, folds, status, s.valDice)] : [];
  });
}

/**
 * A cross-validation's events as one stream: a fold's train run_start comes after a fold 'started' event, its
 * completed run_end becomes a fold 'completed' event (with its validation Dice), so screens see one run that goes
 * on; the engine's per-fold evaluations (for cv/) keep their progress, metrics and summaries but not their
 * start/end. A run_end that is not 'completed' is the whole run's end and passes, after its fold event.
 */
export class FoldTranslator {
  private current: number | null = null;
  private finalDice: number | null = null;
  private bestDice: number | null = null;

  constructor(readonly runDir: string, readonly folds: number) {}

  /** Which fold a run_dir belongs to (RUN/folds/fold-k or below), or null. */
  foldOf(runDir: string | null | undefined): number | null {
    if (!runDir) return null;
    const rel = path.relative(this.runDir, runDir).split(path.sep);
    for (let k = 0; k < this.folds; k++) {
      const parts = RUN.fold_dir.replace('{fold}', String(k)).split('/');
      if (parts.every((p, i) => rel[i] === p)) return k;
    }
    return null;
  }

  /** The events to pass on for one event; `fold` names the fold when the caller knows it (a followed folder). */
  translate(e: EngineEvent, fold?: number): EngineEvent[] {
    if (e.type === 'run_start') {
      if (e.command !== 'train') return [];
      const k = fold ?? this.foldOf(e.run_dir);
      if (k === null) return [e];
      this.current = k;
      this.finalDice = null;
      this.bestDice = null;
      return [foldEvent(this.runDir, k, this.folds, 'started'), e];
    }
    if (e.type === 'checkpoint' && e.kind === 'final' && typeof e.metric === 'number') this.finalDice = e.metric;
    if (e.type === 'run_end') {
      const k = this.current;
      if (k === null) return e.status === 'completed' ? [] : [e]; // an evaluation's end: the run goes on
      this.current = null;
      const dice = this.finalDice ?? e.best_dice ?? this.bestDice;
      const fe = foldEvent(this.runDir, k, this.folds, e.status, dice ?? null);
      return e.status === 'completed' ? [fe] : [fe, e];
    }
    if (e.type === 'epoch_end' && typeof e.val_dice === 'number') this.bestDice = Math.max(this.bestDice ?? -1, e.best_dice ?? e.val_dice);
    return [e];
  }
}

/** The folds already finished when a stream starts (a resumed cross-validation), as fold events. */
function finishedFolds(runDir: string, folds: number): EngineEvent[] {
  return foldStates(runDir, folds).filter((f) => f.status === 'done').map((f) => foldEvent(runDir, f.fold, folds, 'completed', f.valDice));
}

/** The closing lines once every fold ran: the cv summary and one run_end for the whole cross-validation. */
function closing(runDir: string, folds: number): EngineEvent[] {
  const cv = cvEvent(runDir);
  if (!cv) return [];
  const dice = readCv(runDir)?.dice[0];
  return [cv, {v: 1, type: 'run_end', time: now(), status: 'completed', exit_code: 0, best_dice: null,
    reason: `${folds} folds cross-validated${dice ? `: ${dice.label} Dice ${dice.mean.toFixed(4)} ± ${dice.std.toFixed(4)}` : ''}`}];
}

/** A train/resume job of a cross-validation parent, its events through a FoldTranslator, the cv summary at the end. */
export function withFolds(job: Job, runDir: string, folds: number): Job {
  const queue = new AsyncQueue<EngineEvent>();
  const t = new FoldTranslator(runDir, folds);
  const done = (async (): Promise<JobResult> => {
    queue.push(...finishedFolds(runDir, folds));
    for await (const e of job.events) queue.push(...t.translate(e));
    const result = await job.done;
    if (result.exitCode === 0) queue.push(...closing(runDir, folds));
    queue.end();
    return result.exitCode === 0 && existsSync(path.join(runDir, RUN.cv)) ? {...result, paths: {...result.paths, report: path.join(runDir, RUN.cv)}} : result;
  })();
  return {...job, events: queue, done};
}

export interface WatchFoldsOptions {
  follow?: boolean;
  pollMs?: number;
  /** With every fold trained and no cv/ yet: how long no fold evaluation may be seen before the watch ends. */
  settleMs?: number;
  /** How long no fold may be training, with some still to start, before the watch says it is waiting for them. */
  waitNoteMs?: number;
}

/** When any fold's eval/events.jsonl last changed (ms), or 0: the engine evaluating folds on its way to cv/. */
function lastEvalChange(runDir: string, folds: number): number {
  let latest = 0;
  for (let k = 0; k < folds; k++) {
    try {
      latest = Math.max(latest, statSync(path.join(foldDir(runDir, k), RUN.eval_events)).mtimeMs);
    } catch {
      // not evaluated (yet)
    }
  }
  return latest;
}

/**
 * Watch a cross-validation parent: follow the fold in training (the lowest-numbered one not done whose folder has
 * events), then the next as it appears, while folds trained elsewhere (a job array) are reported from their
 * folders; ends with the cv summary once RUN/cv/summary.json appears. With every fold trained but no cv/ and no
 * fold evaluation going on for settleMs, it ends saying how to write cv/. A fold ending failed or interrupted ends
 * the watch with its status (unless follow).
 */
export function watchFolds(runDir: string, folds: number, opts: WatchFoldsOptions = {}): Job {
  const pollMs = opts.pollMs ?? 250;
  const settleMs = opts.settleMs ?? 60_000;
  const waitNoteMs = opts.waitNoteMs ?? 15_000;
  const queue = new AsyncQueue<EngineEvent>();
  const t = new FoldTranslator(runDir, folds);
  const told = new Map<number, string>(); // the last status sent per fold
  let inner: Job | null = null;
  let following: number | null = null;
  let stopped = false;
  let allDoneAt: number | null = null;
  let waitingSince: number | null = null; // since when no fold has been training while some wait to start
  let toldWaiting = false;
  let closed = false; // the cv summary was sent
  let finish!: (r: JobResult) => void;
  const done = new Promise<JobResult>((r) => (finish = r));
  let timer: NodeJS.Timeout | undefined;
  let lastEnd: EventOf<'run_end'> | undefined;

  /** The followed fold's own events always pass (its 'started' puts it in view); what folders say, once per change. */
  const send = (events: EngineEvent[], seen = false) => {
    for (const e of events) {
      if (e.type === 'fold' && typeof e.fold === 'number') {
        if (seen && told.get(e.fold) === e.status) continue;
        told.set(e.fold, e.status);
      }
      if (e.type === 'run_end') lastEnd = e;
      queue.push(e);
    }
  };
  const end = (exitCode: number, o: {stopped?: boolean; problems?: string[]} = {}) => {
    if (queue.closed) return;
    clearTimeout(timer);
    inner?.stop();
    queue.end();
    const status = exitCode === 0 ? 'completed' : exitCode === 130 ? 'interrupted' : 'failed';
    finish({exitCode, status, problems: o.problems ?? [], paths: {runDir, ...(existsSync(path.join(runDir, RUN.cv)) ? {report: path.join(runDir, RUN.cv)} : {})},
      runEnd: lastEnd, watchStopped: o.stopped === true});
  };
  const followFold = (k: number) => {
    following = k;
    const job = watchRun(foldDir(runDir, k), {follow: opts.follow, pollMs});
    inner = job;
    void (async () => {
      let completed = false;
      for await (const e of job.events) {
        const out = t.translate(e, k);
        send(out);
        if (out.some((x) => x.type === 'fold' && x.status === 'completed')) {
          completed = true;
          job.stop(); // a completed fold does not resume: on to the next
        }
      }
      const r = await job.done;
      if (queue.closed) return;
      inner = null;
      following = null;
      if (!completed && !r.watchStopped && !opts.follow) end(r.exitCode, {problems: r.problems});
    })();
  };
  // a fold's state is read again only when its events or final.pt changed (events.jsonl grows by steps)
  const cache = new Map<number, {key: string; state: FoldState}>();
  const scan = (): FoldState[] => Array.from({length: folds}, (_, k) => {
    const dir = foldDir(runDir, k);
    if (k === following) return {fold: k, status: 'training', valDice: null, runDir: dir}; // its stream says more
    const stamp = (f: string) => {
      try {
        const st = statSync(path.join(dir, f));
        return `${st.size}:${st.mtimeMs}`;
      } catch {
        return '-';
      }
    };
    const key = `${stamp(RUN.events)}|${stamp(RUN.final)}`;
    const hit = cache.get(k);
    if (hit?.key === key) return hit.state;
    const state = foldState(runDir, k);
    cache.set(k, {key, state});
    return state;
  });
  const poll = () => {
    if (stopped || queue.closed) return;
    const states = scan();
    // the fold in training; else one that ended badly and was not shown yet (its replay ends the watch)
    const next = following !== null ? null
      : states.find((s) => s.status === 'training') ?? states.find((s) => (s.status === 'failed' || s.status === 'interrupted') && !told.has(s.fold));
    for (const s of states) {
      // folds other than the followed one: what their folders say (a job array trains several at once)
      if (s.fold === following || s.fold === next?.fold) continue;
      if (s.status === 'done') send([foldEvent(runDir, s.fold, folds, 'completed', s.valDice)], true);
      else if (s.status === 'training' && !told.has(s.fold)) send([foldEvent(runDir, s.fold, folds, 'started')], true);
    }
    if (next) followFold(next.fold);
    const pending = states.filter((s) => s.status === 'pending').map((s) => s.fold);
    if (following === null && pending.length && !states.some((s) => s.status === 'training')) {
      // nothing to follow for a while (not the seconds between two folds): say so once per wait, or it looks stuck
      waitingSince ??= Date.now();
      if (!toldWaiting && Date.now() - waitingSince >= waitNoteMs) {
        toldWaiting = true;
        send([{v: 1, type: 'warning', time: now(), message: `no fold is training; waiting for fold${pending.length > 1 ? 's' : ''} ${pending.join(', ')} to start`,
          file: runDir, hint: `start them with: heartseg train --resume ${runDir}; a cluster job's array tasks start them too`}]);
      }
    } else [waitingSince, toldWaiting] = [null, false];
    if (following === null && !closed && states.every((s) => s.status === 'done')) {
      const tail = closing(runDir, folds);
      closed = tail.length > 0;
      if (tail.length) {
        send(tail);
        if (!opts.follow) return end(0);
      } else {
        const t0 = Date.now();
        allDoneAt ??= t0;
        if (!opts.follow && t0 - Math.max(allDoneAt, lastEvalChange(runDir, folds)) > settleMs) {
          send([{v: 1, type: 'warning', time: now(), message: `every fold is trained; the cross-validated metrics are not written yet`,
            file: path.join(runDir, RUN.cv), hint: `write them with: heartseg train --resume ${runDir}`}]);
          return end(0);
        }
      }
    }
    timer = setTimeout(poll, pollMs);
  };
  timer = setTimeout(poll, 0);
  return {kind: 'watch', runDir, outDir: null, events: queue, done, stop: () => {
    stopped = true;
    end(130, {stopped: true});
  }};
}

/** Folds a bare `--folds` (no number) or `--all` asks for: nnU-Net's five. */
export const DEFAULT_FOLDS = 5;

/** The command line with the cross-validation shorthands spelled out: `--folds` not followed by a number means
 * `--folds 5`; `--all` (one model on every case, for deployment) means `--fold all` with `--folds 5` unless given.
 * Throws an Error naming the conflict for `--all` with `--fold`. */
export function expandFoldFlags(argv: string[]): string[] {
  const out: string[] = [];
  let all = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.push(...argv.slice(i)); break; }
    if (a === '--all') { all = true; continue; }
    out.push(a);
    if (a === '--folds' && !/^\d+$/.test(argv[i + 1] ?? '')) out.push(String(DEFAULT_FOLDS));
  }
  if (!all) return out;
  const given = (flag: string) => out.some(a => a === `--${flag}` || a.startsWith(`--${flag}=`));
  if (given('fold')) throw new Error('--all trains one model on every case: it cannot be combined with --fold');
  return [...out, ...(given('folds') ? [] : ['--folds', String(DEFAULT_FOLDS)]), '--fold', 'all'];
}
