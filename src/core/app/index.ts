// createCore: the one application core behind the command line and the terminal UI.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {analyzeDataset} from '../analyze/index.js';
import {boardLogdir, startBoard} from '../board.js';
import {validateConfig} from '../config.js';
import {applyArgs, listPresets, loadPreset, presetDir} from '../config-flags.js';
import {Failure, UsageError} from '../errors.js';
import {CONTRACT} from '../generated/contract.js';
import {PythonNotFound, usablePython} from '../python.js';
import {answerReason, askEngine, closeBridge, jsonAnswer, type Answer} from '../pythonia.js';
import {listRuns, readEvents, runInfo, tensorboardFiles} from '../runs.js';
import {cvFoldCount, foldsRecord} from '../folds.js';
import {watchFolds} from '../fold-watch.js';
import {watchRun} from '../watch.js';
import {evalCaseView, openDatasetCase} from './cases.js';
import {configure} from './configure.js';
import * as jobs from './engine-jobs.js';
import {datasetReport} from './report.js';
import type {Board, CheckpointDetails, Core, DoctorReport, DoctorStatus, Estimate, Job, ModelRef, Plan, Preset, RunDetail, Scalars} from './types.js';

export {configure, withEdits, nested, parseAssignments} from './configure.js';
export {checkName} from './engine-jobs.js';

const RUN = CONTRACT.run_folder;

export interface CoreOptions {
  runsDir: string;
  python?: string;
  data?: string;
  env?: NodeJS.ProcessEnv;
  /** Where relative paths start (default: the process's). */
  cwd?: string;
  /** The UI keeps one Python bridge for its many short questions; a command closes it after each. */
  keepBridge?: boolean;
  /** Pass our SIGINT/SIGTERM/SIGHUP to running engines (the command line); the UI stops them itself. */
  forwardSignals?: boolean;
}

/** Planning measures step times on the device: minutes on a busy CPU. */
const PLAN_TIMEOUT_MS = 20 * 60_000;

/** How long a stopped engine gets to checkpoint before it is killed when the core shuts down. */
const STOP_GRACE_MS = 20_000;

const aborted = (signal?: AbortSignal) => {
  if (signal?.aborted) throw Object.assign(new Error('aborted'), {name: 'AbortError'});
};

export function createCore(opts: CoreOptions): Core {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const runsDir = path.resolve(cwd, opts.runsDir);
  let resolved: Promise<string> | undefined;
  /** The interpreter, resolved and checked once; its problems as the same one line on both faces. */
  const python = () => (resolved ??= usablePython({flag: opts.python, env}).then((p) => p.path, (e) => {
    resolved = undefined;
    if (e instanceof PythonNotFound) throw e.usage ? new UsageError(e.message) : new Failure(e.message);
    throw e;
  }));
  const live = new Set<() => Promise<void>>();
  const track = (job: {stop(): void; done: Promise<unknown>}) => {
    const stop = async () => {
      job.stop();
      const timer = new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref());
      if ((await Promise.race([job.done.then(() => 'done'), timer])) !== 'done') {
        job.stop();
        job.stop(); // the third request kills it
        await job.done;
      }
    };
    live.add(stop);
    return () => void live.delete(stop);
  };
  const ask = async (args: string[], timeoutMs?: number, o: {via?: 'process'; signal?: AbortSignal} = {}): Promise<Answer> =>
    askEngine(await python(), args, {env, keepOpen: opts.keepBridge === true, timeoutMs, ...o});

  function findRun(run: string): string {
    const asPath = path.resolve(cwd, run);
    if (existsSync(asPath)) return asPath;
    const inRuns = path.join(runsDir, run);
    if (existsSync(inRuns)) return inRuns;
    throw new UsageError(`run ${run}: no such folder (looked in ${cwd} and ${runsDir})`);
  }

  function modelRef(arg: string): ModelRef {
    let found: string;
    try {
      found = findRun(arg);
    } catch {
      throw new UsageError(`RUN|CKPT ${arg}: no such run folder or checkpoint file (looked in ${cwd} and ${runsDir})`);
    }
    return statSync(found).isDirectory() ? {kind: 'run', runDir: found} : {kind: 'checkpoint', file: found};
  }

  const launcher: jobs.Launcher = {runsDir, cwd, env, python, findRun, forwardSignals: opts.forwardSignals === true, track};

  async function doctorReport(): Promise<DoctorReport> {
    const report: DoctorReport = {python: null, engine: null, problems: [], via: null};
    try {
      const py = await usablePython({flag: opts.python, env});
      report.python = {path: py.path, source: py.source, why: py.why, version: py.check.python};
      const answer = await ask(['doctor'], 120_000);
      report.via = answer.via;
      if (answer.fallbackReason) report.pythonia_fallback = answer.fallbackReason;
      const engine = answer.code === 0 ? jsonAnswer<DoctorReport['engine'] & object>(answer) : undefined;
      report.engine = engine ?? null;
      if (!engine) report.problems.push(`the engine's doctor failed: ${answerReason(answer)}`);
      else report.problems.push(...engine.problems);
    } catch (e) {
      if (!(e instanceof PythonNotFound)) throw e;
      report.problems.push(e.message);
    }
    return report;
  }

  return {
    runsDir,
    defaultData: opts.data ? path.resolve(cwd, opts.data) : null,

    doctorReport,
    python,

    async doctor(): Promise<DoctorStatus> {
      const r = await doctorReport();
      const d = r.engine;
      if (!d) return {ok: false, python: r.python?.path ?? null, torch: null, device: null, message: r.problems[0] ?? 'engine check failed'};
      const device = d.cuda_available && d.devices.length
        ? d.devices.map((x) => `${x.name} (${Math.round(x.total_memory_mb / 1024)} GB)`).join(', ')
        : 'CPU only';
      const problems = r.problems.length ? ` · ${r.problems[0]}` : '';
      return {ok: r.problems.length === 0 && d.torch !== null, python: d.python.version, torch: d.torch, device,
        message: `Python ${d.python.version} · torch ${d.torch ?? 'missing'} · ${device}${problems}`};
    },

    async listDatasets() {
      const roots = [opts.data ? path.resolve(cwd, opts.data) : null, ...listRuns(runsDir).map((r) => r.dataRoot)];
      const seen = new Set<string>();
      const out = [];
      for (const r of roots) {
        if (!r || seen.has(r) || !existsSync(r)) continue;
        seen.add(r);
        out.push({root: r, name: path.basename(r)});
      }
      return out;
    },
    analyzeDataset: async (root: string) => datasetReport(await analyzeDataset(path.resolve(cwd, root))),
    openCase: (root: string, name: string) => openDatasetCase(root, name, env),
    openEvalCase: (runDir: string, name: string) => evalCaseView(runDir, name, env),

    async plan(data: string, o = {}): Promise<Plan> {
      const root = path.resolve(cwd, data);
      const spec = o.device ?? 'auto';
      const device = spec.startsWith('cuda') ? 'cuda' : spec === 'cpu' ? 'cpu' : 'auto';
      aborted(o.signal);
      const extra = [...(o.budgetMinutes ? ['--budget-minutes', String(o.budgetMinutes)] : []), ...(o.cacheDir ? ['--cache-dir', o.cacheDir] : []),
        ...(o.threads ? ['--threads', String(o.threads)] : [])];
      // Its own process: planning measures the machine for minutes on a busy CPU, and leaving the screen must end it.
      const answer = await ask(['plan', root, '--json', '--device', device, ...extra], PLAN_TIMEOUT_MS, {via: 'process', signal: o.signal});
      aborted(o.signal);
      const body = answer.code === 0 ? jsonAnswer<{config?: Record<string, unknown>; reasons?: Record<string, string>;
        estimates?: Record<string, number>; device?: {kind: string; name: string}}>(answer) : undefined;
      if (answer.code === 2) throw new UsageError(answerReason(answer));
      if (!body?.config) throw new Failure(`plan: unavailable (${answerReason(answer)})`);
      return {data: root, config: body.config, reasons: body.reasons ?? {}, estimates: body.estimates ?? {},
        device: body.device ? `${body.device.kind}: ${body.device.name}` : device, raw: body as Record<string, unknown>};
    },

    presets(): Preset[] {
      return listPresets().map((name) => {
        const raw = JSON.parse(readFileSync(path.join(presetDir(), `${name}.json`), 'utf8')) as {_comment?: string};
        return {name, description: raw._comment ?? '', config: loadPreset(name)};
      });
    },

    configure: (layers) => configure(layers),

    async estimate(config: Record<string, unknown>, o = {}): Promise<Estimate> {
      aborted(o.signal);
      // A file, not stdin: the UI asks through its Python bridge, which keeps torch imported between questions.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'heartseg-estimate-'));
      try {
        const file = path.join(dir, RUN.config);
        writeFileSync(file, JSON.stringify(config));
        const answer = await ask(['estimate', '--config', file], 300_000); // torch's import alone takes a minute on a busy CPU
        aborted(o.signal);
        const body = answer.code === 0 ? jsonAnswer<Estimate>(answer) : undefined;
        if (!body || !Array.isArray(body.problems)) throw new Failure(`estimate: ${answerReason(answer)}`);
        return body;
      } finally {
        rmSync(dir, {recursive: true, force: true});
      }
    },

    async saveConfig(config: Record<string, unknown>, file?: string): Promise<string> {
      const check = validateConfig(config);
      if (!check.ok) throw new UsageError(check.problems.join('; '));
      const root = (check.config.data.root as string) || 'config';
      const target = path.resolve(cwd, file ?? path.join(runsDir, 'configs', `${check.config.name || path.basename(root)}.json`));
      mkdirSync(path.dirname(target), {recursive: true});
      const tmp = `${target}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(check.config, null, 2) + '\n');
      renameSync(tmp, target);
      return target;
    },

    train: (req) => jobs.train(launcher, req),
    resume: (req) => jobs.resume(launcher, req),
    evaluate: (req) => jobs.evaluate(launcher, req),
    predict: (req) => jobs.predict(launcher, req),
    score: (req) => jobs.score(launcher, req),
    export: (req) => jobs.exportModel(launcher, req),
    synth: (req) => jobs.synth(launcher, req),

    async inspect(file: string, o = {}): Promise<CheckpointDetails> {
      const target = path.resolve(cwd, file);
      const patch = o.patch ? ['--patch', o.patch.join(',')] : [];
      const answer = await ask(['inspect', target, ...patch, ...applyArgs(o.apply), ...(o.text ? [] : ['--json'])]);
      if (answer.code === 2) throw new UsageError(answerReason(answer));
      if (answer.code !== 0) throw new Failure(`${target}: ${answerReason(answer)}`);
      if (o.text) return {path: target, parameters: null, features: null, epoch: null, metric: null, lines: answer.stdout.trimEnd().split('\n'), raw: {}};
      const info = jsonAnswer<{architecture: {features: number[]; in_channels: number; out_channels: number}; parameters: number;
        output: string; compatible: boolean; kind: string; epoch: number | null; metrics: Record<string, unknown> | null}>(answer);
      if (!info) throw new Failure(`${target}: the engine's answer was not JSON`);
      const metric = Object.values(info.metrics ?? {}).find((v): v is number => typeof v === 'number') ?? null;
      const a = info.architecture;
      return {
        path: target, parameters: info.parameters, features: a.features, epoch: info.epoch, metric, raw: info as unknown as Record<string, unknown>,
        lines: [`in ${a.in_channels} · out ${a.out_channels} · ${info.output}`, `${info.kind} checkpoint · ${info.compatible ? 'loads strictly' : 'does not load strictly'}`],
      };
    },

    findRun,
    modelRef,
    listRuns: () => listRuns(runsDir),

    async readRun(dir: string): Promise<RunDetail> {
      const info = runInfo(dir);
      if (!info) throw new UsageError(`${path.resolve(dir)}: not a run folder (no ${RUN.events}, ${RUN.config} or TensorBoard logs)`);
      let scalars: Scalars | null = null;
      if (info.status === 'tensorboard') {
        const answer = await ask(['tbread', info.dir]);
        const parsed = answer.code === 0 ? jsonAnswer<{scalars: Scalars}>(answer) : undefined;
        if (!parsed) throw new Failure(`${info.dir}: cannot read the TensorBoard logs (${answerReason(answer)})`);
        scalars = parsed.scalars;
      }
      // a cross-validation parent has no training events of its own: its folds' states stand for them
      const events = info.cv ? foldsRecord(info.dir, info.cv.folds) : readEvents(info.dir);
      return {info, events, evalEvents: readEvents(info.dir, RUN.eval_events), scalars};
    },

    watch(run: string, o = {}): Job {
      const runDir = findRun(run);
      const folds = cvFoldCount(runDir);
      if (!folds && !existsSync(path.join(runDir, RUN.events)) && !existsSync(path.join(runDir, RUN.config))) {
        throw new UsageError(`${runDir}: no ${RUN.events} yet; is this a heartseg run folder?`);
      }
      // a cross-validation parent has no events of its own: follow its folds
      const job = folds ? watchFolds(runDir, folds, {follow: o.follow}) : watchRun(runDir, {follow: o.follow});
      const untrack = track(job);
      void job.done.finally(untrack);
      return job;
    },

    async board(target?: string): Promise<Board> {
      const dir = target ? findRun(target) : runsDir;
      const logdir = boardLogdir(dir);
      // A tensorboard/ folder still without event files is a run that just started: TensorBoard shows it once it writes.
      const hasLogs = (d: string) => existsSync(path.join(d, RUN.tensorboard)) || tensorboardFiles(d).length > 0;
      const any = target ? hasLogs(dir) : hasLogs(dir) || (existsSync(dir) && readdirSync(dir).some((n) => hasLogs(path.join(dir, n))));
      if (!any) {
        throw new UsageError(target ? `${dir}: no TensorBoard logs (no ${RUN.tensorboard}/ with event files); nothing to show`
          : `${dir}: no TensorBoard logs in any run; nothing to show`);
      }
      let handle;
      try {
        handle = await startBoard(await python(), logdir, {env});
      } catch (e) {
        if (e instanceof UsageError || e instanceof Failure) throw e;
        throw new Failure((e as Error).message);
      }
      const h = handle;
      const untrack = track({stop: () => void h.stop(), done: h.exited});
      void h.exited.finally(untrack);
      return {url: h.url, port: h.port, logdir: h.logdir, stop: () => h.stop(), exited: h.exited};
    },

    async shutdown(): Promise<void> {
      const stops = [...live];
      live.clear();
      await Promise.all(stops.map((stop) => stop().catch(() => undefined)));
      closeBridge();
    },
  };
}
