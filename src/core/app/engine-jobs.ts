// The engine commands that run as Jobs (train, resume, evaluate, predict, score, export, synth): arguments checked
// and turned into the engine's command line, one log per job in the job's own folder, paths of what it wrote.
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {isPlainObject} from '../config.js';
import {startEngine} from '../engine.js';
import {UsageError} from '../errors.js';
import {CONTRACT} from '../generated/contract.js';
import {cvFoldCount, everyFoldCount, withFolds} from '../folds.js';
import {defaultRunName} from '../paths.js';
import {applyArgs} from '../config-flags.js';
import {configure, nested} from './configure.js';
import {engineJob} from './job.js';
import type {EvaluateRequest, ExportRequest, Job, JobKind, ModelRef, PredictRequest, ResumeRequest, ScoreRequest, SynthRequest, TrainRequest} from './types.js';

const RUN = CONTRACT.run_folder;

/** What the job layer needs from the core around it. */
export interface Launcher {
  runsDir: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  python(): Promise<string>;
  findRun(run: string): string;
  forwardSignals: boolean;
  /** Keep the job for shutdown; returns the untrack function. */
  track(job: {stop(): void; done: Promise<unknown>}): () => void;
}

/** Run names become folder names: letters, digits, '.', '-', '_', not starting with a dot (no '..', no '/'). */
export function checkName(name: string): string {
  if (!/^[A-Za-z0-9_][\w.-]*$/.test(name)) {
    throw new UsageError(`--name ${JSON.stringify(name)}: use letters, digits, '.', '-' and '_', not starting with '.'`);
  }
  return name;
}

/** A temporary folder with one JSON file for the engine, removed when the job ends. */
function tempJson(name: string, body: unknown): {file: string; remove: () => void} {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heartseg-'));
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  return {file, remove: () => rmSync(dir, {recursive: true, force: true})};
}

async function start(l: Launcher, kind: JobKind, command: string, args: string[], where: {runDir?: string | null; outDir?: string | null;
  logFile?: string; keepStdout?: boolean; paths?: Parameters<typeof engineJob>[1]['paths']; after?: () => void}): Promise<Job> {
  let python: string;
  try {
    python = await l.python();
  } catch (e) {
    where.after?.();
    throw e;
  }
  const engine = startEngine({python, command, args, logFile: where.logFile, cwd: l.cwd, env: l.env, forwardSignals: l.forwardSignals});
  let untrack = () => undefined as void;
  const job = engineJob(engine, {kind, runDir: where.runDir, outDir: where.outDir, keepStdout: where.keepStdout, paths: where.paths,
    after: () => {
      untrack();
      where.after?.();
    }});
  untrack = l.track({stop: () => engine.interrupt('SIGINT'), done: engine.done});
  return job;
}

const modelArgs = (m: ModelRef) => (m.kind === 'run' ? ['--run', m.runDir] : ['--checkpoint', m.file]);

/** The config without the contract's init_keys that only came from the defaults or the plan. */
function withoutUnchosen(config: Record<string, unknown>, sources: Record<string, string>): Record<string, unknown> {
  const out = structuredClone(config);
  for (const key of CONTRACT.init_keys) {
    if (sources[key] !== 'default' && sources[key] !== 'plan') continue;
    const parts = key.split('.');
    const parent = parts.slice(0, -1).reduce<unknown>((node, p) => (isPlainObject(node) ? node[p] : undefined), out);
    if (isPlainObject(parent)) delete parent[parts[parts.length - 1]];
  }
  return out;
}

export async function train(l: Launcher, req: TrainRequest): Promise<Job> {
  const c = req.configured;
  if (c.problems.length) throw new UsageError(c.problems.join('; '));
  const root = (c.config.data as {root?: string} | undefined)?.root;
  if (!root) throw new UsageError('no dataset: give DATA (data.root)');
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`DATA ${root}: no such folder`);
  const name = checkName(req.name ?? ((c.config.name as string) || defaultRunName(root)));
  const runDir = path.join(l.runsDir, name);
  if (existsSync(runDir)) {
    throw new UsageError(`run folder ${runDir} already exists: choose another --name, or continue it with: heartseg train --resume ${runDir}`);
  }
  // --init: the engine takes the network and preprocessing from the weights unless the user chose them
  const tmp = tempJson(RUN.config, {...(req.init ? withoutUnchosen(c.config, c.sources) : c.config), name});
  const job = await start(l, 'train', 'train', ['--config', tmp.file, '--run', runDir, ...(req.init ? ['--init', path.resolve(l.cwd, req.init)] : [])],
    {runDir, logFile: path.join(runDir, RUN.engine_log), after: tmp.remove});
  // every fold in one job (data.folds K, no data.fold): its stream told as folds, then the cv summary
  const folds = everyFoldCount(c.config.data as {folds?: unknown; fold?: unknown} | undefined);
  return folds ? withFolds(job, runDir, folds) : job;
}

/** A run's stored config.json, checked enough to resume from. */
function storedConfig(runDir: string): Record<string, unknown> {
  const file = path.join(runDir, RUN.config);
  if (!existsSync(file)) throw new UsageError(`${runDir}: no ${RUN.config}, not a heartseg run folder`);
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!isPlainObject(data)) throw new Error('not a JSON object');
    return data;
  } catch (e) {
    throw new UsageError(`${file}: not a readable config (${(e as Error).message})`);
  }
}

export async function resume(l: Launcher, req: ResumeRequest): Promise<Job> {
  const runDir = l.findRun(req.run);
  storedConfig(runDir);
  const folds = cvFoldCount(runDir); // a cross-validation parent resumes its folds (and writes cv/), it has no last.pt
  if (!folds && !existsSync(path.join(runDir, RUN.last))) {
    throw new UsageError(`${runDir}: nothing to resume (no ${RUN.last}); the run never finished an epoch`);
  }
  // Only the changes travel; which keys may change (the schema's resume keys) the engine decides, and says why not.
  const edits = req.edits ?? {};
  const checked = configure({edits}); // values of the wrong type are named before anything starts
  const typeProblems = checked.problems.filter((p) => Object.keys(edits).some((k) => p.startsWith(`${k}:`)));
  if (typeProblems.length) throw new UsageError(typeProblems.join('; '));
  const tmp = tempJson('changes.json', nested(edits));
  const job = await start(l, 'resume', 'train', ['--config', tmp.file, '--run', runDir, '--resume'],
    {runDir, logFile: path.join(runDir, RUN.engine_log), after: tmp.remove});
  return folds ? withFolds(job, runDir, folds) : job;
}

export async function evaluate(l: Launcher, req: EvaluateRequest): Promise<Job> {
  let runDir: string;
  if (req.model.kind === 'run') {
    runDir = req.model.runDir;
  } else {
    if (!req.data) throw new UsageError('evaluating a checkpoint file needs DATA');
    runDir = path.join(l.runsDir, checkName(req.name ?? defaultRunName(`eval-${path.parse(req.model.file).name}`)));
    if (existsSync(runDir)) throw new UsageError(`run folder ${runDir} already exists: choose another --name`);
  }
  if (req.split && !['val', 'all'].includes(req.split)) throw new UsageError(`--split ${req.split}: expected val or all`);
  const args = [...modelArgs(req.model), ...(req.model.kind === 'checkpoint' ? ['--run', runDir] : []),
    ...(req.data ? ['--data', path.resolve(l.cwd, req.data)] : []), '--split', req.split ?? 'val',
    ...(req.device ? ['--device', req.device] : []), ...(req.configFile ? ['--config', path.resolve(l.cwd, req.configFile)] : []),
    ...(req.figures === false ? ['--no-figures'] : []), ...applyArgs(req.apply)];
  return start(l, 'evaluate', 'evaluate', args, {runDir, logFile: path.join(runDir, RUN.eval_log),
    paths: () => ({report: path.join(runDir, RUN.eval)})});
}

/** The first existing ancestor of `dir` that is not a folder, if any (predict --out DIR/sub where DIR is a file). */
function fileInTheWay(dir: string): string | undefined {
  for (let p = dir; ; p = path.dirname(p)) {
    if (existsSync(p)) return statSync(p).isDirectory() ? undefined : p;
    if (path.dirname(p) === p) return undefined;
  }
}

const LABEL_MAP = /\.nii(\.gz)?$/;

/** What a prediction wrote: the manifest's outputs, else the label maps in DIR written since it started. */
function predictedFiles(outDir: string, since: number): string[] {
  const manifest = path.join(outDir, RUN.predict_manifest);
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) (k === 'output' && typeof x === 'string' ? found.push(path.resolve(outDir, x)) : walk(x));
  };
  try {
    walk(JSON.parse(readFileSync(manifest, 'utf8')));
  } catch {
    // no manifest (yet): look at the folder
  }
  if (found.length) return found;
  try {
    return readdirSync(outDir).filter((f) => LABEL_MAP.test(f)).map((f) => path.join(outDir, f))
      .filter((f) => statSync(f).mtimeMs >= since - 1000).sort();
  } catch {
    return [];
  }
}

export async function predict(l: Launcher, req: PredictRequest): Promise<Job> {
  const outDir = path.resolve(l.cwd, req.outDir);
  const blocker = fileInTheWay(outDir);
  if (blocker) throw new UsageError(`--out ${outDir}: ${blocker} is a file, not a folder`);
  if (!req.inputs.length) throw new UsageError('nothing to predict: give INPUT files or folders');
  const inputs = req.inputs.map((i) => path.resolve(l.cwd, i));
  for (const i of inputs) if (!existsSync(i)) throw new UsageError(`INPUT ${i}: no such file or folder`);
  const since = Date.now();
  const args = [...modelArgs(req.model), '--input', ...inputs, '--out', outDir, ...(req.probabilities ? ['--probabilities'] : []),
    ...(req.device ? ['--device', req.device] : []), ...(req.configFile ? ['--config', path.resolve(l.cwd, req.configFile)] : []),
    ...applyArgs(req.apply)];
  return start(l, 'predict', 'predict', args, {outDir, logFile: path.join(outDir, RUN.predict_log),
    paths: () => ({files: predictedFiles(outDir, since)})});
}

export async function score(l: Launcher, req: ScoreRequest): Promise<Job> {
  const outDir = req.outDir ? path.resolve(l.cwd, req.outDir) : path.join(l.runsDir, defaultRunName('score'));
  const blocker = fileInTheWay(outDir);
  if (blocker) throw new UsageError(`--out ${outDir}: ${blocker} is a file, not a folder`);
  const args = [path.resolve(l.cwd, req.pred), path.resolve(l.cwd, req.ref), '--out', outDir, ...(req.labels ? ['--labels', req.labels] : [])];
  return start(l, 'score', 'score', args, {outDir});
}

export async function exportModel(l: Launcher, req: ExportRequest): Promise<Job> {
  const out = path.resolve(l.cwd, req.out);
  const blocker = fileInTheWay(path.dirname(out));
  if (blocker) throw new UsageError(`--out ${out}: ${blocker} is a file, not a folder`);
  if (existsSync(out) && statSync(out).isDirectory()) throw new UsageError(`--out ${out}: is a folder, expected a file name`);
  return start(l, 'export', 'export', [...modelArgs(req.model), '--out', out], {outDir: path.dirname(out), paths: () => ({files: [out, out + CONTRACT.export_sidecar_suffix]})});
}

export async function synth(l: Launcher, req: SynthRequest): Promise<Job> {
  const out = path.resolve(l.cwd, req.out);
  const blocker = fileInTheWay(out);
  if (blocker) throw new UsageError(`OUT ${out}: ${blocker} is a file, not a folder`);
  const args = [out, ...(req.cases !== undefined ? ['--cases', String(req.cases)] : []), ...(req.seed !== undefined ? ['--seed', String(req.seed)] : []),
    ...(req.shape ? ['--shape', ...req.shape.map(String)] : []), ...(req.spacing ? ['--spacing', ...req.spacing.map(String)] : [])];
  return start(l, 'synth', 'synth', args, {outDir: out, keepStdout: true});
}
