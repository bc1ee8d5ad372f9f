// The runs folder: which folders are runs, their status (run_end, lock file, TensorBoard-only), epochs and best Dice.
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {RunInfo, RunStatus} from './app/types.js';
import {type EngineEvent, parseEventLine} from './events.js';
import {cvFoldCount, foldStates, readCv} from './folds.js';
import {CONTRACT} from './generated/contract.js';

const RUN = CONTRACT.run_folder;

export type {RunInfo, RunStatus};

/** A run on another host counts as running while its events.jsonl changed this recently. */
const REMOTE_FRESH_MS = 15 * 60_000;
/** Without a lock, a run whose events changed this recently is taken as still starting up. */
const UNLOCKED_FRESH_MS = 2 * 60_000;

/** Every valid event of an events file (RUN/events.jsonl by default; invalid or partial lines are skipped). */
export function readEvents(runDir: string, name: string = RUN.events): EngineEvent[] {
  const file = path.join(runDir, name);
  if (!existsSync(file)) return [];
  const out: EngineEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = parseEventLine(line);
    if (r.ok) out.push(r.event);
  }
  return out;
}

/** TensorBoard event files under a folder (itself, tensorboard/, or one level of subfolders). */
export function tensorboardFiles(dir: string, depth = 2): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, {withFileTypes: true});
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isFile() && e.name.startsWith('events.out.tfevents')) found.push(full);
    else if (e.isDirectory() && depth > 0 && e.name !== RUN.checkpoints) found.push(...tensorboardFiles(full, depth - 1));
  }
  return found;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function mtime(file: string): number | null {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/** Status when no run_end follows the last run_start: decided by the engine's lock file ("pid host"). */
export function liveStatus(runDir: string, now = Date.now()): RunStatus {
  const updated = mtime(path.join(runDir, RUN.events)) ?? mtime(runDir) ?? 0;
  const lock = path.join(runDir, RUN.lock);
  if (existsSync(lock)) {
    const [pidText, host] = readFileSync(lock, 'utf8').trim().split(/\s+/);
    const pid = Number(pidText);
    if (!host || host === os.hostname()) return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? 'running' : 'failed';
    return now - updated < REMOTE_FRESH_MS ? 'running' : 'unknown';
  }
  return now - updated < UNLOCKED_FRESH_MS ? 'running' : 'failed';
}

function readConfig(runDir: string): Record<string, any> | null {
  try {
    return JSON.parse(readFileSync(path.join(runDir, RUN.config), 'utf8'));
  } catch {
    return null;
  }
}

/** A cross-validation parent as one run: its status from its folds (and cv/), the cv Dice as its Dice. */
function cvRunInfo(dir: string, folds: number, now: number): RunInfo {
  const states = foldStates(dir, folds);
  const live = states.map((f) => (f.status === 'training' ? liveStatus(f.runDir, now) : f.status));
  const done = states.filter((f) => f.status === 'done').length;
  const cv = readCv(dir);
  const status: RunStatus = cv || done === folds ? 'completed' : live.includes('running') ? 'running' : live.includes('failed') ? 'failed'
    : live.includes('interrupted') ? 'interrupted' : live.includes('unknown') ? 'unknown' : 'incomplete';
  const checkpoints = states.map((f) => path.join(f.runDir, RUN.final)).filter((f) => existsSync(f));
  const stamps = [dir, ...states.map((f) => path.join(f.runDir, RUN.events)), path.join(dir, RUN.cv)].map(mtime).filter((t): t is number => t !== null);
  const dice = cv?.dice[0];
  return {name: path.basename(dir), dir, dataRoot: (readConfig(dir)?.data?.root as string) || null, checkpoints,
    hasEval: existsSync(path.join(dir, RUN.eval_summary)), status, epoch: null, epochs: null, bestDice: dice?.mean ?? null,
    updated: stamps.length ? Math.max(...stamps) : null, cv: {folds, done, dice: dice?.mean ?? null, std: dice?.std ?? null}};
}

/** Summarise one folder; null when it is not a run (no events.jsonl, no config.json, no TensorBoard logs). */
export function runInfo(runDir: string, now = Date.now()): RunInfo | null {
  const dir = path.resolve(runDir);
  const folds = existsSync(path.join(dir, RUN.events)) ? null : cvFoldCount(dir);
  if (folds) return cvRunInfo(dir, folds, now);
  const hasEvents = existsSync(path.join(dir, RUN.events));
  const config = readConfig(dir);
  const ckptDir = path.join(dir, RUN.checkpoints);
  const checkpoints = existsSync(ckptDir) ? readdirSync(ckptDir).filter(f => f.endsWith('.pt') || f.endsWith('.pth')).sort()
    .map(f => path.join(ckptDir, f)) : [];
  const base = {name: path.basename(dir), dir, dataRoot: (config?.data?.root as string) || null, checkpoints,
    hasEval: existsSync(path.join(dir, RUN.eval_summary))};
  if (!hasEvents && !config) {
    const tb = tensorboardFiles(dir);
    if (!tb.length) return null;
    const updated = Math.max(...tb.map(f => mtime(f) ?? 0));
    return {...base, status: 'tensorboard', epoch: null, epochs: null, bestDice: null, updated};
  }
  const events = readEvents(dir);
  let start = -1;
  events.forEach((e, i) => e.type === 'run_start' && e.command === 'train' && (start = i));
  const current = start >= 0 ? events.slice(start) : events;
  const end = [...current].reverse().find(e => e.type === 'run_end');
  let epoch: number | null = null;
  let epochs: number | null = (config?.train?.epochs as number) ?? null;
  let bestDice: number | null = null;
  for (const e of events) {
    if (e.type === 'epoch_end') {
      epoch = e.epoch;
      epochs = e.epochs;
      const d = e.best_dice ?? e.val_dice;
      if (d !== null && d !== undefined && (bestDice === null || d > bestDice)) bestDice = d;
    } else if (e.type === 'epoch_start') {
      epochs = e.epochs;
    }
  }
  const status: RunStatus = end?.type === 'run_end' ? end.status : events.length || hasEvents ? liveStatus(dir, now) : 'unknown';
  return {...base, status, epoch, epochs, bestDice, updated: mtime(path.join(dir, RUN.events)) ?? mtime(dir)};
}

/** Every run in the runs folder, most recently updated first. */
export function listRuns(runsDir: string, now = Date.now()): RunInfo[] {
  if (!existsSync(runsDir)) return [];
  const runs: RunInfo[] = [];
  for (const e of readdirSync(runsDir, {withFileTypes: true})) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const info = runInfo(path.join(runsDir, e.name), now);
    if (info) runs.push(info);
  }
  return runs.sort((a, b) => (b.updated ?? 0) - (a.updated ?? 0));
}

/** The checkpoint a run offers for inspection: the final model, else the best, else the last. */
export function runCheckpoint(runDir: string): string | null {
  for (const name of [RUN.final, RUN.best, RUN.last]) {
    const file = path.join(runDir, name);
    if (existsSync(file)) return file;
  }
  return null;
}
