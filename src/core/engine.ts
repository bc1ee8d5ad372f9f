// The engine as a child process: events from fd 3 (validated), output kept in RUN/engine.log, signals forwarded.
import {EventEmitter} from 'node:events';
import {createWriteStream, existsSync, type WriteStream} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {type EngineEvent, type EventOf, parseEventLine} from './events.js';
import {LineSplitter} from './lines.js';
import {engineEnv} from './python.js';

export const EXIT = {ok: 0, failed: 1, badInput: 2, interrupted: 130} as const;

export interface EngineResult {
  /** 0 done, 1 failed, 2 bad input or usage, 130 interrupted. */
  exitCode: number;
  status: 'completed' | 'failed' | 'bad_input' | 'interrupted';
  /** What the process itself returned (null when it died by a signal). */
  rawExitCode: number | null;
  signal: string | null;
  runEnd?: EventOf<'run_end'>;
  errors: EventOf<'error'>[];
  invalidLines: number;
  /** The last lines of stderr, for a message when the engine fails. */
  stderrTail: string[];
  /** Where the engine's output was kept, if the run folder came to exist. */
  logFile?: string;
  /** Set when the process could not be started at all. */
  spawnError?: string;
}

export interface EngineEvents {
  event: [EngineEvent];
  invalid: [{line: string; error: string}];
  output: [{stream: 'stdout' | 'stderr'; line: string}];
  exit: [EngineResult];
}

export interface SpawnOptions {
  /** The executable and its arguments (python -m heartseg ..., or a fake engine in tests). */
  file: string;
  args: string[];
  /** RUN: engine.log is written there once the engine has created it (never before). */
  runDir?: string;
  logName?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdin?: 'ignore' | 'pipe';
  /** Forward this process's SIGINT/SIGTERM to the engine (default true). */
  forwardSignals?: boolean;
}

/** Start `python -m heartseg COMMAND ARGS...`. */
export function startEngine(opts: {python: string; command: string; args: string[]} & Omit<SpawnOptions, 'file' | 'args'>): Engine {
  const {python, command, args, ...rest} = opts;
  return new Engine({...rest, file: python, args: ['-m', 'heartseg', command, ...args], env: engineEnv(opts.env ?? process.env)});
}

const LOG_BUFFER_LIMIT = 8 * 1024 * 1024;

export function mapExitCode(code: number | null, signal: string | null, spawnFailed: boolean): number {
  if (spawnFailed) return EXIT.failed;
  if (code !== null) return ([0, 1, 2, 130] as number[]).includes(code) ? code : EXIT.failed;
  return signal === 'SIGINT' || signal === 'SIGTERM' ? EXIT.interrupted : EXIT.failed;
}

function spawnChild(opts: SpawnOptions) {
  return execa(opts.file, opts.args, {
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe', 'pipe'],
    env: {...(opts.env ?? process.env), HEARTSEG_EVENT_FD: '3'},
    extendEnv: false,
    cwd: opts.cwd,
    buffer: false,
    reject: false,
    // Own process group: a terminal's Ctrl-C reaches only us, and we forward it exactly once.
    detached: true,
    cleanup: false,
  });
}

const STATUS: Record<number, EngineResult['status']> = {0: 'completed', 2: 'bad_input', 130: 'interrupted'};

export class Engine extends EventEmitter<EngineEvents> {
  readonly done: Promise<EngineResult>;
  private readonly child: ReturnType<typeof spawnChild>;
  private readonly opts: SpawnOptions;
  private logStream?: WriteStream;
  private logBuffer: Buffer[] = [];
  private logBytes = 0;
  private signalsSent = 0;
  private runEnd?: EventOf<'run_end'>;
  private readonly errors: EventOf<'error'>[] = [];
  private invalidLines = 0;
  private readonly stderrTail: string[] = [];
  private readonly unhook: () => void;

  constructor(opts: SpawnOptions) {
    super();
    this.opts = opts;
    this.child = spawnChild(opts);
    this.unhook = this.hookSignals(opts.forwardSignals !== false);
    const fd3 = this.child.stdio[3] as NodeJS.ReadableStream | undefined;
    const events = new LineSplitter(line => this.onEventLine(line));
    fd3?.on('data', (chunk: Buffer) => events.push(chunk));
    const outputs = (['stdout', 'stderr'] as const).map(stream => {
      const splitter = new LineSplitter(line => this.onOutputLine(stream, line));
      this.child[stream]?.on('data', (chunk: Buffer) => {
        this.keepLog(chunk);
        splitter.push(chunk);
      });
      return splitter;
    });
    this.done = this.finish(events, outputs);
    // Nobody has to listen: an unhandled 'error'-free emitter is fine, but the promise must not reject unobserved.
    this.done.catch(() => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Ask the engine to stop: it checkpoints and exits 130. The third request kills it. */
  interrupt(signal: 'SIGINT' | 'SIGTERM' = 'SIGINT'): void {
    this.signalsSent += 1;
    try {
      this.child.kill(this.signalsSent >= 3 ? 'SIGKILL' : signal);
    } catch {
      // already gone
    }
  }

  /** Events as an async iterator, from the moment it is created until the engine exits. */
  [Symbol.asyncIterator](): AsyncIterator<EngineEvent> {
    const queue: EngineEvent[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const onEvent = (e: EngineEvent) => {
      queue.push(e);
      wake?.();
    };
    this.on('event', onEvent);
    this.done.finally(() => {
      ended = true;
      this.off('event', onEvent);
      wake?.();
    });
    return {
      next: async (): Promise<IteratorResult<EngineEvent>> => {
        while (!queue.length && !ended) await new Promise<void>(r => (wake = r));
        wake = undefined;
        const value = queue.shift();
        return value ? {value, done: false} : {value: undefined, done: true};
      },
    };
  }

  private onEventLine(line: string): void {
    if (!line.trim()) return;
    const parsed = parseEventLine(line);
    if (!parsed.ok) {
      this.invalidLines += 1;
      this.emit('invalid', {line, error: parsed.error});
      return;
    }
    const event = parsed.event;
    if (event.type === 'run_end') this.runEnd = event;
    if (event.type === 'error') this.errors.push(event);
    this.openLogIfRunExists();
    this.emit('event', event);
  }

  private onOutputLine(stream: 'stdout' | 'stderr', line: string): void {
    if (stream === 'stderr') {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
    }
    this.emit('output', {stream, line});
  }

  /** Output is held in memory until RUN exists, so a failed input check leaves nothing behind. */
  private keepLog(chunk: Buffer): void {
    this.openLogIfRunExists();
    if (this.logStream) {
      this.logStream.write(chunk);
      return;
    }
    this.logBuffer.push(chunk);
    this.logBytes += chunk.length;
    while (this.logBytes > LOG_BUFFER_LIMIT && this.logBuffer.length > 1) this.logBytes -= this.logBuffer.shift()!.length;
  }

  private openLogIfRunExists(): void {
    const runDir = this.opts.runDir;
    if (this.logStream || !runDir || !existsSync(runDir)) return;
    this.logStream = createWriteStream(path.join(runDir, this.opts.logName ?? 'engine.log'), {flags: 'a'});
    for (const b of this.logBuffer) this.logStream.write(b);
    this.logBuffer = [];
    this.logBytes = 0;
  }

  private hookSignals(enabled: boolean): () => void {
    const onExit = () => {
      // Our own exit must not orphan the engine (it runs in its own process group).
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    };
    process.on('exit', onExit);
    if (!enabled) return () => process.off('exit', onExit);
    const onInt = () => this.interrupt('SIGINT');
    const onTerm = () => this.interrupt('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    return () => {
      process.off('exit', onExit);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
  }

  private async finish(events: LineSplitter, outputs: LineSplitter[]): Promise<EngineResult> {
    const r = await this.child;
    this.unhook();
    events.end();
    for (const o of outputs) o.end();
    const spawnError = r.failed && r.exitCode === undefined && !r.signal ? (r.shortMessage || 'could not start') : undefined;
    const rawExitCode = r.exitCode ?? null;
    const signal = r.signal ?? null;
    this.openLogIfRunExists();
    let logFile: string | undefined;
    if (this.logStream) {
      logFile = this.logStream.path.toString();
      await new Promise<void>(res => this.logStream!.end(res));
    }
    const exitCode = mapExitCode(rawExitCode, signal, spawnError !== undefined);
    const result: EngineResult = {
      exitCode,
      status: STATUS[exitCode] ?? 'failed',
      rawExitCode,
      signal,
      runEnd: this.runEnd,
      errors: this.errors,
      invalidLines: this.invalidLines,
      stderrTail: [...this.stderrTail],
      logFile,
      spawnError,
    };
    this.emit('exit', result);
    return result;
  }
}
