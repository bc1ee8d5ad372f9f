// createCore: the real Core behind the terminal UI, wiring runs, engine, watch, board, pythonia, analysis and config.
import {existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {Board, CheckpointDetails, Core, DoctorStatus, EngineRun, Preset, RunDetail, RunInfo, Scalars} from '../api.js';
import {analyzeDataset} from '../analyze/index.js';
import {configValidator, defaultConfig, validateConfig} from '../config.js';
import {listPresets, loadPreset, presetDir} from '../config-flags.js';
import {startEngine, type Engine} from '../engine.js';
import type {EngineEvent} from '../events.js';
import {evalCaseView, openDatasetCase} from './cases.js';
import {boardLogdir, startBoard} from '../board.js';
import {defaultRunName} from '../paths.js';
import {PythonNotFound, resolvePython, type ResolvedPython} from '../python.js';
import {answerReason, askEngine, closeBridge, jsonAnswer} from '../pythonia.js';
import {listRuns, readEvents, runInfo} from '../runs.js';
import {RunWatcher} from '../watch.js';
import {datasetReport} from './report.js';

export interface CoreOptions {
  runsDir: string;
  python?: string;
  data?: string;
  env?: NodeJS.ProcessEnv;
}

/** An async stream fed by callbacks (engine events), ended once. */
class EventQueue implements AsyncIterable<EngineEvent> {
  private items: EngineEvent[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  push(e: EngineEvent): void {
    this.items.push(e);
    this.wake?.();
  }
  close(): void {
    this.closed = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<EngineEvent> {
    for (;;) {
      while (this.items.length) yield this.items.shift()!;
      if (this.closed) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

/** Events of an engine process; a death without run_end adds an error event with its last stderr line. */
export function fromEngine(engine: Engine, runDir: string, after: () => void): EngineRun {
  const queue = new EventQueue();
  engine.on('event', (e) => queue.push(e));
  const done = engine.done.then((r) => {
    if (!r.runEnd && r.exitCode !== 0 && r.exitCode !== 130 && r.errors.length === 0) {
      const why = r.spawnError ?? r.stderrTail.filter((l) => l.trim()).at(-1) ?? `exit code ${r.exitCode}`;
      queue.push({v: 1, type: 'error', time: Date.now() / 1000, message: why.replace(/^heartseg: /, ''), kind: 'internal'});
    }
    queue.close();
    after();
    return r.exitCode;
  });
  return {runDir, events: queue, stop: () => engine.interrupt('SIGINT'), done};
}

interface EngineDoctor {
  torch: string | null;
  cuda_available: boolean;
  devices: Array<{name: string; total_memory_mb: number}>;
  problems: string[];
  python: {version: string};
}

interface InspectJson {
  architecture: {features: number[]; in_channels: number; out_channels: number};
  parameters: number;
  output: string;
  compatible: boolean;
  kind: string;
  epoch: number | null;
  metrics: Record<string, unknown> | null;
}

/** runs.ts lists checkpoint file names; the UI passes them on to inspect/evaluate, so they become paths. */
function withCheckpointPaths(info: RunInfo): RunInfo {
  return {...info, checkpoints: info.checkpoints.map((c) => path.resolve(info.dir, 'checkpoints', c))};
}

/** How long a stopped engine gets to checkpoint before it is killed when the UI quits. */
const STOP_GRACE_MS = 20_000;

export function createCore(opts: CoreOptions): Core {
  const env = opts.env ?? process.env;
  const runsDir = path.resolve(opts.runsDir);
  let resolved: Promise<ResolvedPython> | undefined;
  const python = () => (resolved ??= resolvePython({flag: opts.python, env}).catch((e) => {
    resolved = undefined;
    throw e;
  }));
  const live = new Set<() => Promise<void>>();
  const track = (stop: () => Promise<void>) => {
    live.add(stop);
    return () => void live.delete(stop);
  };
  const ask = async (args: string[]) => askEngine((await python()).path, args, {env, keepOpen: true});

  async function launch(command: string, args: string[], runDir: string, cleanup: () => void = () => undefined): Promise<EngineRun> {
    const py = await python();
    const engine = startEngine({python: py.path, command, args, runDir, env, forwardSignals: false});
    const untrack = track(async () => {
      engine.interrupt('SIGINT');
      const timer = new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref());
      if ((await Promise.race([engine.done.then(() => 'done'), timer])) !== 'done') {
        engine.interrupt('SIGINT');
        engine.interrupt('SIGINT'); // the third request kills it
        await engine.done;
      }
    });
    return fromEngine(engine, runDir, () => {
      untrack();
      cleanup();
    });
  }

  /** A temporary config file for the engine, removed when the process ends. */
  function configFile(config: Record<string, unknown>): {file: string; remove: () => void} {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heartseg-ui-'));
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config, null, 2));
    return {file, remove: () => rmSync(dir, {recursive: true, force: true})};
  }

  return {
    runsDir,
    defaultData: opts.data ? path.resolve(opts.data) : null,
    configSchema: configValidator(),

    async doctor(): Promise<DoctorStatus> {
      try {
        const py = await python();
        const answer = await ask(['doctor']);
        const d = answer.code === 0 ? jsonAnswer<EngineDoctor>(answer) : undefined;
        if (!d) return {ok: false, python: py.path, torch: null, device: null, message: `engine check failed: ${answerReason(answer)}`};
        const device = d.cuda_available && d.devices.length
          ? d.devices.map((x) => `${x.name} (${Math.round(x.total_memory_mb / 1024)} GB)`).join(', ')
          : 'CPU only';
        const problems = d.problems.length ? ` · ${d.problems[0]}` : '';
        return {ok: d.problems.length === 0 && d.torch !== null, python: d.python.version, torch: d.torch, device,
          message: `Python ${d.python.version} · torch ${d.torch ?? 'missing'} · ${device}${problems}`};
      } catch (e) {
        const message = e instanceof PythonNotFound ? e.message : `doctor: ${(e as Error).message}`;
        return {ok: false, python: null, torch: null, device: null, message};
      }
    },

    listRuns: async () => listRuns(runsDir).map(withCheckpointPaths),

    async readRun(dir: string): Promise<RunDetail> {
      const found = runInfo(dir);
      const info = found && withCheckpointPaths(found);
      if (!info) throw new Error(`${dir}: not a run folder (no events.jsonl, config.json or TensorBoard logs)`);
      let scalars: Scalars | null = null;
      if (info.status === 'tensorboard') {
        const answer = await ask(['tbread', info.dir]);
        const parsed = answer.code === 0 ? jsonAnswer<{scalars: Scalars}>(answer) : undefined;
        if (!parsed) throw new Error(`${info.dir}: cannot read the TensorBoard logs (${answerReason(answer)})`);
        scalars = parsed.scalars;
      }
      return {info, events: readEvents(info.dir), scalars};
    },

    async inspectCheckpoint(file: string): Promise<CheckpointDetails> {
      const answer = await ask(['inspect', file, '--json']);
      const info = answer.code === 0 ? jsonAnswer<InspectJson>(answer) : undefined;
      if (!info) throw new Error(`${file}: ${answerReason(answer)}`);
      const metric = Object.values(info.metrics ?? {}).find((v): v is number => typeof v === 'number') ?? null;
      const a = info.architecture;
      return {
        path: file, parameters: info.parameters, features: a.features, epoch: info.epoch, metric,
        lines: [`in ${a.in_channels} · out ${a.out_channels} · ${info.output}`, `${info.kind} checkpoint · ${info.compatible ? 'loads strictly' : 'does not load strictly'}`],
      };
    },

    async listDatasets() {
      const roots = [opts.data ? path.resolve(opts.data) : null, ...listRuns(runsDir).map((r) => r.dataRoot)];
      const seen = new Set<string>();
      const out = [];
      for (const r of roots) {
        if (!r || seen.has(r) || !existsSync(r)) continue;
        seen.add(r);
        out.push({root: r, name: path.basename(r)});
      }
      return out;
    },

    analyzeDataset: async (root: string) => datasetReport(await analyzeDataset(path.resolve(root))),
    openCase: (root: string, name: string) => openDatasetCase(root, name, env),
    openEvalCase: (runDir: string, name: string) => evalCaseView(runDir, name, env),

    defaultConfig: () => defaultConfig() as unknown as Record<string, unknown>,

    async presets(): Promise<Preset[]> {
      const out: Preset[] = listPresets().map((name) => {
        const raw = JSON.parse(readFileSync(path.join(presetDir(), `${name}.json`), 'utf8')) as {_comment?: string};
        return {name, description: raw._comment ?? '', config: loadPreset(name)};
      });
      // The defaults are the full-size seed model: offered as "full" unless a preset file says otherwise.
      if (!out.some((p) => p.name === 'full')) out.push({name: 'full', description: 'the defaults: the full-size seed U-Net', config: {}});
      return out;
    },

    async saveConfig(config: Record<string, unknown>, file?: string): Promise<string> {
      const check = validateConfig(config);
      if (!check.ok) throw new Error(check.problems.join('; '));
      const root = (check.config.data.root as string) || 'config';
      const target = path.resolve(file ?? path.join(runsDir, 'configs', `${check.config.name || path.basename(root)}.json`));
      mkdirSync(path.dirname(target), {recursive: true});
      const tmp = `${target}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(check.config, null, 2) + '\n');
      renameSync(tmp, target);
      return target;
    },

    async train(how) {
      if ('resume' in how) {
        const runDir = path.resolve(how.resume);
        if (!existsSync(path.join(runDir, 'checkpoints', 'last.pt'))) throw new Error(`${runDir}: nothing to resume (no checkpoints/last.pt)`);
        const cfg = configFile({});
        return launch('train', ['--config', cfg.file, '--run', runDir, '--resume'], runDir, cfg.remove);
      }
      const check = validateConfig(how.config);
      if (!check.ok) throw new Error(check.problems.join('; '));
      const root = check.config.data.root;
      if (!root || !existsSync(root)) throw new Error(`data.root ${JSON.stringify(root)}: no such dataset folder`);
      const name = check.config.name || defaultRunName(root);
      const runDir = path.join(runsDir, name);
      if (existsSync(runDir)) throw new Error(`run folder ${runDir} already exists: choose another name`);
      const cfg = configFile({...check.config, name, data: {...check.config.data, root: path.resolve(root)}});
      return launch('train', ['--config', cfg.file, '--run', runDir], runDir, cfg.remove);
    },

    evaluate: ({runDir, data}) => launch('evaluate', ['--run', runDir, ...(data ? ['--data', data] : [])], runDir),
    predict: ({runDir, inputs, outDir}) => launch('predict', ['--run', runDir, '--input', ...inputs, '--out', outDir], runDir),

    async watch(runDir: string): Promise<EngineRun> {
      const watcher = new RunWatcher(runDir);
      const iterator = watcher[Symbol.asyncIterator](); // subscribe now: the first events come on the next tick
      const untrack = track(async () => watcher.stop());
      const done = watcher.done.finally(untrack);
      return {runDir, events: {[Symbol.asyncIterator]: () => iterator}, stop: () => watcher.stop(), done};
    },

    async board(runDir: string): Promise<Board> {
      const handle = await startBoard((await python()).path, boardLogdir(runDir), {env});
      const untrack = track(() => handle.stop());
      void handle.exited.finally(untrack);
      return {url: handle.url, stop: () => handle.stop()};
    },

    async shutdown(): Promise<void> {
      const stops = [...live];
      live.clear();
      await Promise.all(stops.map((stop) => stop().catch(() => undefined)));
      closeBridge();
    },
  };
}
