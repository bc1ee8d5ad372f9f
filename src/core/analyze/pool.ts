// A pool of worker threads, one case per worker at a time; in-process when the compiled worker is absent (tests).
import {existsSync} from 'node:fs';
import os from 'node:os';
import {fileURLToPath} from 'node:url';
import {Worker} from 'node:worker_threads';
import {analyzeCase} from './case.js';
import type {CaseResult, CaseTask} from './types.js';

/** The compiled worker beside this module; null when running from TypeScript sources. */
export function workerFile(): URL | null {
  const url = new URL('./worker.js', import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : null;
}

export interface PoolOptions {
  workers?: number;
  /** force in-process analysis (no threads) */
  inProcess?: boolean;
  onDone?: (task: CaseTask, result: CaseResult) => void;
}

export function poolSize(requested: number | undefined, tasks: number): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(requested ?? cores, tasks));
}

function failed(task: CaseTask, message: string): CaseResult {
  return {analysis: null, problems: [{file: task.image, message: `analysis failed: ${message}`}]};
}

async function runInProcess(tasks: CaseTask[], opts: PoolOptions): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const t of tasks) {
    const r = await analyzeCase(t).catch((e: Error) => failed(t, e.message));
    out.push(r);
    opts.onDone?.(t, r);
  }
  return out;
}

/** Results in task order; a worker that dies costs only its case, which is reported as a problem. */
export async function runCases(tasks: CaseTask[], opts: PoolOptions = {}): Promise<CaseResult[]> {
  const file = opts.inProcess ? null : workerFile();
  if (!file || tasks.length === 0) return runInProcess(tasks, opts);
  const results = new Array<CaseResult>(tasks.length);
  let next = 0;
  const size = poolSize(opts.workers, tasks.length);

  const runWorker = () =>
    new Promise<void>((resolve) => {
      let current = -1;
      let worker = new Worker(file);
      const settle = (i: number, r: CaseResult) => {
        results[i] = r;
        opts.onDone?.(tasks[i], r);
      };
      const feed = () => {
        if (next >= tasks.length) {
          current = -1;
          void worker.terminate().then(() => resolve());
          return;
        }
        current = next++;
        worker.postMessage({id: current, task: tasks[current]});
      };
      const attach = (w: Worker) => {
        let dead = false;
        const died = (message: string) => {
          if (dead || w !== worker) return;
          dead = true;
          if (current < 0) return;
          settle(current, failed(tasks[current], message));
          // The thread is gone: a fresh one takes the remaining cases.
          worker = new Worker(file);
          attach(worker);
          feed();
        };
        w.on('message', (msg: {id: number; ok: boolean; result?: CaseResult; message?: string}) => {
          settle(msg.id, msg.ok ? msg.result! : failed(tasks[msg.id], msg.message ?? 'unknown error'));
          feed();
        });
        w.on('error', (e) => died(e.message));
        w.on('exit', (code) => died(`worker exited with code ${code}`));
      };
      attach(worker);
      feed();
    });

  await Promise.all(Array.from({length: size}, runWorker));
  return results;
}
