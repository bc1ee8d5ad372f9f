// Follow a run's events.jsonl as it grows (a cluster job seen from a login node): polling, partial lines kept.
import {EventEmitter} from 'node:events';
import {closeSync, existsSync, openSync, readSync, statSync} from 'node:fs';
import path from 'node:path';
import {type EngineEvent, parseEventLine} from './events.js';
import {LineSplitter} from './lines.js';

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

export interface WatchEvents {
  event: [EngineEvent];
  invalid: [{line: string; error: string}];
  end: [number];
}

/** Exit code a run_end stands for. */
export function endCode(e: Extract<EngineEvent, {type: 'run_end'}>): number {
  return e.status === 'completed' ? 0 : e.status === 'interrupted' ? 130 : e.exit_code || 1;
}

/**
 * Events of RUN/events.jsonl from the start, then live. Ends at the first run_end that closes the last run
 * (unless `follow`, which keeps going through resumes until stop()).
 */
export class RunWatcher extends EventEmitter<WatchEvents> {
  readonly done: Promise<number>;
  private readonly follower: Follower;
  private resolve!: (code: number) => void;
  private ended = false;

  constructor(readonly runDir: string, opts: {follow?: boolean; pollMs?: number} = {}) {
    super();
    this.done = new Promise<number>(r => (this.resolve = r));
    const file = path.join(runDir, 'events.jsonl');
    this.follower = followLines(file, line => {
      if (this.ended || !line.trim()) return;
      const r = parseEventLine(line);
      if (!r.ok) return void this.emit('invalid', {line, error: r.error});
      this.emit('event', r.event);
      if (r.event.type === 'run_end' && !opts.follow) this.pendingEnd = endCode(r.event);
      if (r.event.type === 'run_start') this.pendingEnd = undefined;
    }, {pollMs: opts.pollMs});
    // A run_end ends the watch only if no run_start follows it in the same read (a resumed run goes on).
    this.check = setInterval(() => {
      if (this.pendingEnd !== undefined) this.finish(this.pendingEnd);
    }, Math.max(50, (opts.pollMs ?? 250) * 2));
  }

  private pendingEnd: number | undefined;
  private readonly check: NodeJS.Timeout;

  /** Stop following (Ctrl-C): done resolves with 130. */
  stop(): void {
    this.finish(130);
  }

  private finish(code: number): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.check);
    this.follower.stop();
    this.emit('end', code);
    this.resolve(code);
  }

  [Symbol.asyncIterator](): AsyncIterator<EngineEvent> {
    const queue: EngineEvent[] = [];
    let wake: (() => void) | undefined;
    const onEvent = (e: EngineEvent) => {
      queue.push(e);
      wake?.();
    };
    this.on('event', onEvent);
    this.done.then(() => wake?.());
    return {
      next: async () => {
        while (!queue.length && !this.ended) await new Promise<void>(r => (wake = r));
        const value = queue.shift();
        if (!value) this.off('event', onEvent);
        return value ? {value, done: false} : {value: undefined, done: true};
      },
    };
  }
}
