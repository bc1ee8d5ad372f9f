// The engine as a child process: events from fd 3 (validated), its output kept in a log file once the engine has
// started its work (a run_start event), signals forwarded.
import {EventEmitter} from 'node:events';
import {createWriteStream, existsSync, mkdirSync, readdirSync, rmdirSync, unlinkSync, type WriteStream} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {type EngineEvent, type EventOf, parseEventLine} from './events.js';
import {LineSplitter} from './lines.js';
import {engineEnv} from './python.js';
import {exitCodeOf, type Status, statusOf} from './status.js';

export interface EngineResult {
  /** One of CONTRACT.exit_codes: 0 completed, 1 failed, 2 bad input or usage, 130 interrupted. */
  exitCode: number;
  status: Status;
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
  /** Where the engine's output is kept. Opened only at the engine's first run_start event, i.e. once it has
   * checked its inputs and made (or resumed) its own folder: a refused command writes nowhere, not even into
   * another run's log. */
  logFile?: string;
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

export class Engine extends EventEmitter<EngineEvents> {
  readonly done: Promise<EngineResult>;
  private readonly child: ReturnType<typeof spawnChild>;
  private readonly opts: SpawnOptions;
  private logStream?: WriteStream;
  /** What opening the log created (the file, the first new folder), removed again when the input is refused. */
  private logCreated: {file?: string; dir?: string} = {};
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
    if (event.type === 'run_start') this.openLog();
    this.emit('event', event);
  }

  private onOutputLine(stream: 'stdout' | 'stderr', line: string): void {
    if (stream === 'stderr') {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
    }
    this.emit('output', {stream, line});
  }

  /** Output is held in memory until the engine starts its work, so a refused input leaves nothing behind. */
  private keepLog(chunk: Buffer): void {
    if (this.logStream) {
      this.logStream.write(chunk);
      return;
    }
    this.logBuffer.push(chunk);
    this.logBytes += chunk.length;
    while (this.logBytes > LOG_BUFFER_LIMIT && this.logBuffer.length > 1) this.logBytes -= this.logBuffer.shift()!.length;
  }

  private openLog(): void {
    const file = this.opts.logFile;
    if (this.logStream || !file) return;
    try {
      this.logCreated.dir = mkdirSync(path.dirname(file), {recursive: true});
    } catch {
      return; // a read-only folder: the output stays in memory (and in the result's stderr tail)
    }
    if (!existsSync(file)) this.logCreated.file = file;
    this.logStream = createWriteStream(file, {flags: 'a'});
    // A log that cannot be written (read-only mount, full disk) must not end the front; the run goes on.
    this.logStream.on('error', () => {
      this.logStream = undefined;
    });
    for (const b of this.logBuffer) this.logStream.write(b);
    this.logBuffer = [];
    this.logBytes = 0;
  }

  /** A refused input leaves nothing behind: the log we created goes, with the folders made for it if empty. */
  private removeCreatedLog(): string | undefined {
    const {file, dir} = this.logCreated;
    if (!file) return this.opts.logFile;
    try {
      unlinkSync(file);
      for (let d = path.dirname(file); dir && d.startsWith(dir) && readdirSync(d).length === 0; d = path.dirname(d)) rmdirSync(d);
    } catch {
      // best effort: a folder someone else wrote into stays
    }
    return undefined;
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
    // A closed terminal (SIGHUP) is a stop request too: the run checkpoints instead of being orphaned.
    process.on('SIGHUP', onTerm);
    return () => {
      process.off('exit', onExit);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onTerm);
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
    let logFile: string | undefined;
    if (this.logStream) {
      const stream = this.logStream;
      logFile = stream.path.toString();
      await new Promise<void>(res => stream.end(res));
    }
    const exitCode = exitCodeOf(rawExitCode, signal, spawnError !== undefined);
    if (exitCode === 2 && logFile) logFile = this.removeCreatedLog();
    const result: EngineResult = {
      exitCode,
      status: statusOf(exitCode),
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
