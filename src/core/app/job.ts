// One Job type for every engine command: its events through the one queue, a stop request, a result with the
// exit code, the status (CONTRACT.exit_codes), the engine's problems in its own words and where it wrote.
import {existsSync} from 'node:fs';
import type {Engine, EngineResult} from '../engine.js';
import type {EngineEvent} from '../events.js';
import {engineReasons} from '../reasons.js';
import {AsyncQueue} from './queue.js';
import type {Job, JobKind, JobResult} from './types.js';

const now = () => Date.now() / 1000;

/** The engine's one-line reasons: its "heartseg: ..." stderr lines (with "  - " problem lines), else its error
 * events, else the last stderr line. */
export function engineProblems(result: EngineResult): string[] {
  const own = engineReasons(result.stderrTail);
  if (own.length) return own;
  if (result.errors.length) return result.errors.map((e) => (e.file ? `${e.file}: ${e.message}` : e.message));
  if (result.spawnError) return [result.spawnError];
  const last = result.stderrTail.filter((l) => l.trim()).at(-1);
  return last ? [last] : [];
}

export interface JobOptions {
  kind: JobKind;
  runDir?: string | null;
  outDir?: string | null;
  /** Paths to report when the job completed (only those that exist are kept). */
  paths?: (r: EngineResult) => JobResult['paths'];
  /** Keep the engine's stdout for the result (commands whose answer it is). */
  keepStdout?: boolean;
  /** Called once the engine has exited (clean-up of temporary files, untracking). */
  after?: () => void;
}

/** Wrap a started engine process as a Job. */
export function engineJob(engine: Engine, opts: JobOptions): Job {
  const queue = new AsyncQueue<EngineEvent>();
  const stdout: string[] = [];
  engine.on('event', (e) => queue.push(e));
  engine.on('invalid', (i) => queue.push({v: 1, type: 'warning', time: now(),
    message: `the engine wrote an invalid event (${i.error}): ${i.line.slice(0, 120)}`}));
  if (opts.keepStdout) engine.on('output', (o) => o.stream === 'stdout' && stdout.length < 10_000 && stdout.push(o.line));
  const done = engine.done.then((r): JobResult => {
    const problems = r.exitCode === 0 ? [] : engineProblems(r);
    // A death without run_end still ends the stream with what went wrong.
    if (!r.runEnd && r.exitCode !== 0 && r.exitCode !== 130 && r.errors.length === 0) {
      queue.push({v: 1, type: 'error', time: now(), message: problems[0] ?? `exit code ${r.rawExitCode ?? r.signal}`,
        kind: r.exitCode === 2 ? 'bad_input' : 'internal'});
    }
    queue.end();
    opts.after?.();
    const paths: JobResult['paths'] = {};
    for (const [k, v] of Object.entries({runDir: opts.runDir ?? undefined, outDir: opts.outDir ?? undefined, logFile: r.logFile, ...opts.paths?.(r)})) {
      if (typeof v === 'string' && existsSync(v)) (paths as Record<string, string>)[k] = v;
      else if (Array.isArray(v)) (paths as Record<string, string[]>)[k] = v.filter((f) => existsSync(f));
    }
    return {exitCode: r.exitCode, status: r.status, problems, paths, ...(opts.keepStdout ? {stdout: stdout.join('\n')} : {})};
  });
  return {kind: opts.kind, runDir: opts.runDir ?? null, outDir: opts.outDir ?? null, events: queue, stop: () => engine.interrupt('SIGINT'), done};
}
