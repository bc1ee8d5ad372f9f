// Follow a run's events.jsonl as it grows (a cluster job seen from a login node): polling, partial lines kept.
import {closeSync, existsSync, openSync, readSync, statSync} from 'node:fs';
import path from 'node:path';
import {AsyncQueue} from './app/queue.js';
import type {Job, JobResult} from './app/types.js';
import {type EngineEvent, type EventOf, parseEventLine} from './events.js';
import {CONTRACT} from './generated/contract.js';
import {LineSplitter} from './lines.js';
import {codeOfStatus, EXIT, statusOf} from './status.js';

export interface Follower {
  stop(): void;
  done: Promise<void>;
}

/** Call onLine for every complete line of `file`, now and as it grows; waits for the file to appear. */
export function followLines(file: string, onLine: (line: string) => void, opts: {pollMs?: number} = {}): Follower {
  const pollMs = opts.pollMs ?? 250;
  let pos = 0;
  let splitter = new LineSplitter(onLine);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const done = new Promise<void>(r => (finish = r));
  const buf = Buffer.alloc(1 << 16);
  const poll = () => {
    if (stopped) return;
    try {
      if (existsSync(file)) {
        const size = statSync(file).size;
        if (size < pos) {
          // Replaced or truncated: start over on the new content.
          pos = 0;
          splitter = new LineSplitter(onLine);
        }
        if (size > pos) {
          const fd = openSync(file, 'r');
          try {
            while (pos < size && !stopped) {
              const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
              if (n <= 0) break;
              pos += n;
              splitter.push(buf.subarray(0, n));
            }
          } finally {
            closeSync(fd);
          }
        }
      }
    } catch {
      // a file being rotated or on a flaky network mount: try again next time
    }
    if (!stopped) timer = setTimeout(poll, pollMs);
  };
  // First read on the next tick, so callers can attach listeners before any line arrives.
  timer = setTimeout(poll, 0);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      finish();
    },
    done,
  };
}

/**
 * Events of RUN/events.jsonl from the start, then live, as a Job. It ends at the run_end that closes the last run
 * (unless `follow`, which keeps going through resumes until stop()); a resume's run_start after a run_end in the
 * same read goes on. stop() ends the watch, not the run: the result then says watchStopped.
 */
export function watchRun(runDir: string, opts: {follow?: boolean; pollMs?: number} = {}): Job {
  const queue = new AsyncQueue<EngineEvent>();
  let lastEnd: EventOf<'run_end'> | undefined;
  let pendingEnd = false;
  let finish!: (r: JobResult) => void;
  const done = new Promise<JobResult>((r) => (finish = r));
  let ended = false;
  const follower = followLines(path.join(runDir, CONTRACT.run_folder.events), (line) => {
    if (ended || !line.trim()) return;
    const r = parseEventLine(line);
    if (!r.ok) {
      queue.push({v: 1, type: 'warning', time: Date.now() / 1000, message: `${runDir}: an invalid event line (${r.error})`});
      return;
    }
    queue.push(r.event);
    if (r.event.type === 'run_end') {
      lastEnd = r.event;
      pendingEnd = !opts.follow;
    }
    if (r.event.type === 'run_start') pendingEnd = false;
  }, {pollMs: opts.pollMs});
  const end = (stopped: boolean) => {
    if (ended) return;
    ended = true;
    clearInterval(check);
    follower.stop();
    queue.end();
    const exitCode = stopped ? EXIT.interrupted : lastEnd ? codeOfStatus(lastEnd.status, lastEnd.exit_code) : EXIT.failed;
    finish({exitCode, status: statusOf(exitCode), problems: !stopped && lastEnd && lastEnd.status !== 'completed' ? [lastEnd.reason] : [],
      paths: {runDir}, runEnd: lastEnd, watchStopped: stopped});
  };
  const check = setInterval(() => {
    if (pendingEnd) end(false);
  }, Math.max(50, (opts.pollMs ?? 250) * 2));
  return {kind: 'watch', runDir, outDir: null, events: queue, stop: () => end(true), done};
}
