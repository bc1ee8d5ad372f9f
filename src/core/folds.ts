// Cross-validation runs (RUN/folds/fold-k, then RUN/cv/): which folder is one, where each fold stands, and the
// train stream of such a run turned into fold events (started/completed per fold, then the cv summary); watching
// one is fold-watch.ts.
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {AsyncQueue} from './app/queue.js';
import type {Job, JobResult} from './app/types.js';
import {type EngineEvent, type EventOf, metricNumber} from './events.js';
import {CONTRACT} from './generated/contract.js';
import {fmtSteps} from './format.js';
import {readEvents} from './runs.js';

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
export function closing(runDir: string, folds: number): EngineEvent[] {
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
