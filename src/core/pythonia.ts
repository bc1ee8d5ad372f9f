// Short questions to the engine (doctor, inspect, tbread): in process through pythonia, else one `python -m heartseg`.
import {execa} from 'execa';
import {engineEnv} from './python.js';
import {pyRoot} from './paths.js';
import {engineReasons} from './reasons.js';

export type Via = 'pythonia' | 'process';

export interface Answer {
  /** The engine command's exit code (0, 1, 2 ...). */
  code: number;
  stdout: string;
  stderr: string;
  via: Via;
  /** Why pythonia was not used, when it was wanted. */
  fallbackReason?: string;
}

// Runs `heartseg.cli.main(argv)` with its prints captured; fds 1 and 2 point at /dev/null so nothing,
// not even C libraries, reaches the terminal (pythonia's bridge inherits our stdio).
const BRIDGE_SOURCE = `
import contextlib, io, json, os, sys
def setup(py_root):
    if py_root not in sys.path:
        sys.path.insert(0, py_root)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
def ask(argv):
    from heartseg.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except BaseException as e:
            print(f"heartseg: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            code = 1
    return json.dumps({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
`;

interface PythoniaModule {
  py: {exec(strings: TemplateStringsArray, ...values: unknown[]): Promise<unknown>};
  python: ((module: string) => Promise<any>) & {exit(): void};
  com: {proc: import('node:child_process').ChildProcess | null};
}

let open: {python: string; mod: PythoniaModule; bridge: any} | undefined;

function withTimeout<T>(p: Promise<T>, ms: number, what: string, proc: PythoniaModule['com']['proc']): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms);
    const onExit = (code: number | null) => reject(new Error(`the Python bridge exited (${code}) during ${what}`));
    // pythonia never settles a call whose Python process died, so its exit must end the wait.
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) onExit(proc.exitCode);
    proc?.once('exit', onExit);
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      proc?.off('exit', onExit);
    });
  });
}

async function openBridge(python: string, timeoutMs: number): Promise<NonNullable<typeof open>> {
  if (open && open.python === python) return open;
  closeBridge();
  process.env.PYTHON_BIN = python; // read by pythonia when it starts its Python process
  const imported = (await import('pythonia')) as unknown as {default?: PythoniaModule} & PythoniaModule;
  const mod = imported.default ?? imported;
  try {
    // Importing pythonia starts Python; after an exit() the next python() call starts it again.
    const restarted = mod.com.proc ? undefined : mod.python('sys');
    mod.com.proc?.on('error', () => undefined); // a spawn error must not crash us; the exit or timeout reports it
    if (restarted) await withTimeout(restarted, timeoutMs, 'starting the Python bridge', mod.com.proc);
    await withTimeout(mod.py.exec`import sys, types
_m = types.ModuleType('heartseg_front_bridge')
exec(${BRIDGE_SOURCE}, _m.__dict__)
sys.modules['heartseg_front_bridge'] = _m`, timeoutMs, 'starting the Python bridge', mod.com.proc);
    const bridge = await withTimeout(mod.python('heartseg_front_bridge'), timeoutMs, 'starting the Python bridge', mod.com.proc);
    await withTimeout(bridge.setup(pyRoot()), timeoutMs, 'starting the Python bridge', mod.com.proc);
    open = {python, mod, bridge};
    return open;
  } catch (e) {
    try {
      mod.python.exit();
    } catch {
      // the bridge process is already gone
    }
    throw e;
  }
}

/** Stop the pythonia bridge (always call before exiting; the UI calls it on quit). */
export function closeBridge(): void {
  if (!open) return;
  const {mod} = open;
  open = undefined;
  try {
    mod.python.exit();
  } catch {
    // already gone
  }
}

async function askPythonia(python: string, args: string[], timeoutMs: number): Promise<Answer> {
  const session = await openBridge(python, timeoutMs);
  const text = await withTimeout<string>(session.bridge.ask(args), timeoutMs, `heartseg ${args[0]}`, session.mod.com.proc);
  const r = JSON.parse(text) as {code: number; stdout: string; stderr: string};
  return {...r, via: 'pythonia'};
}

/** `python -m heartseg ARGS` as a one-shot process: the fallback, and what --via process asks for. */
export async function askProcess(python: string, args: string[], timeoutMs: number, env = process.env, signal?: AbortSignal): Promise<Answer> {
  const r = await execa(python, ['-m', 'heartseg', ...args], {env: engineEnv(env), extendEnv: false, reject: false,
    timeout: timeoutMs, stdin: 'ignore', cancelSignal: signal});
  const code = typeof r.exitCode === 'number' ? r.exitCode : 1;
  const stderr = r.timedOut ? `heartseg: ${args[0]} took longer than ${timeoutMs / 1000}s` : String(r.stderr ?? '');
  return {code: r.failed && r.exitCode === undefined ? 1 : code, stdout: String(r.stdout ?? ''), stderr, via: 'process'};
}

export interface AskOptions {
  via?: Via | 'auto';
  timeoutMs?: number;
  /** Keep the bridge open for more questions (the UI); the CLI closes it after one. */
  keepOpen?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Ends the question early (only a process can be stopped; the bridge's answer is then dropped). */
  signal?: AbortSignal;
}

/** Ask the engine one short question. pythonia first (unless HEARTSEG_PYTHONIA=0); on any bridge failure, a process. */
export async function askEngine(python: string, args: string[], opts: AskOptions = {}): Promise<Answer> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const via = opts.via ?? (env.HEARTSEG_PYTHONIA === '0' ? 'process' : 'auto');
  if (via === 'process') return askProcess(python, args, timeoutMs, env, opts.signal);
  try {
    return await askPythonia(python, args, timeoutMs);
  } catch (e) {
    closeBridge();
    if (via === 'pythonia') throw e;
    const answer = await askProcess(python, args, timeoutMs, env, opts.signal);
    return {...answer, fallbackReason: (e as Error).message.split('\n')[0]};
  } finally {
    if (!opts.keepOpen) closeBridge();
  }
}

/** The JSON object an engine command printed (its last line that parses as JSON). */
export function jsonAnswer<T = Record<string, unknown>>(a: Answer): T | undefined {
  try {
    return JSON.parse(a.stdout) as T;
  } catch {
    // library noise around it: take the last line that parses
  }
  for (const line of a.stdout.trim().split('\n').reverse()) {
    try {
      return JSON.parse(line) as T;
    } catch {
      // not this line
    }
  }
  return undefined;
}

/** The engine's one-line reason from an answer's stderr ("heartseg: ..."), else its last line. */
export function answerReason(a: Answer): string {
  const lines = a.stderr.split('\n').filter(l => l.trim());
  const own = engineReasons(lines);
  return own.length ? (own.length > 1 ? `${own.length} problems: ${own.join('; ')}` : own[0]) : lines.at(-1) ?? `exit ${a.code}`;
}
