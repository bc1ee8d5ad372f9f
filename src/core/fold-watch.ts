// Watching a cross-validation run from its folder: the fold in training followed live, the folds trained elsewhere
// (a job array) reported from their folders, and the cv summary once RUN/cv/ is written.
import {existsSync, statSync} from 'node:fs';
import path from 'node:path';
import {AsyncQueue} from './app/queue.js';
import type {Job, JobResult} from './app/types.js';
import type {EngineEvent, EventOf} from './events.js';
import {closing, foldDir, foldEvent, type FoldState, foldState, FoldTranslator} from './folds.js';
import {CONTRACT} from './generated/contract.js';
import {watchRun} from './watch.js';

const RUN = CONTRACT.run_folder;
const now = () => Date.now() / 1000;

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
