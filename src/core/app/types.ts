// The application core both faces call: the command line (src/commands/*, thin adapters) and the terminal UI.
// Everything a person can do is one method here; a running engine command is one Job. No React, no printing.
import type {EngineEvent} from '../events.js';
import type {CONTRACT} from '../generated/contract.js';

export type Axis = 'axial' | 'sagittal' | 'coronal';

// --- config ---------------------------------------------------------------------------------------------------------

/** Which layer a config value came from, later layers winning: default < plan < preset < file < user. */
export type Source = 'default' | 'plan' | 'preset' | 'file' | 'user';
export const SOURCES: readonly Source[] = ['default', 'plan', 'preset', 'file', 'user'];

/** The engine's plan for a dataset and device (`python -m heartseg plan DATA --json`). */
export interface Plan {
  data: string;
  /** A partial config. */
  config: Record<string, unknown>;
  /** One reason per planned dotted key. */
  reasons: Record<string, string>;
  estimates: Record<string, number>;
  /** The device it planned for, e.g. "cpu: AMD EPYC". */
  device: string;
  /** The engine's whole answer (fingerprint, device), as `plan --json` prints it. */
  raw: Record<string, unknown>;
}

/** What a config is built from; each layer is optional. */
export interface ConfigLayers {
  /** The dataset folder (sets data.root, a user value). */
  data?: string;
  plan?: Plan | null;
  preset?: string | null;
  /** A JSON config file (partial allowed). */
  file?: string | null;
  /** Dotted key -> value: flags on the command line, edits in the configure form. */
  edits?: Record<string, unknown>;
}

/** A config with where every value came from; problems are the engine's words ("KEY: got V, expected E"). */
export interface Configured {
  layers: ConfigLayers;
  config: Record<string, unknown>;
  /** Dotted key -> the layer its value came from. */
  sources: Record<string, Source>;
  /** Dotted key -> why (planned keys, from the plan's reasons). */
  reasons: Record<string, string>;
  problems: string[];
}

/** The engine's cost model applied to a config (`python -m heartseg estimate --config -`). */
export interface Estimate {
  parameters: number | null;
  memory_gb: number | null;
  step_seconds: number | null;
  total_minutes: number | null;
  /** The device the numbers are for. */
  device: string | null;
  /** The engine's checks of the whole config (cross-field ones included); empty when it is valid. */
  problems: string[];
}

export interface Preset {
  name: string;
  description: string;
  config: Record<string, unknown>;
}

// --- jobs -------------------------------------------------------------------------------------------------------------

/** A status of a finished engine command: the names of CONTRACT.exit_codes. */
export type JobStatus = keyof typeof CONTRACT.exit_codes;

export type JobKind = 'train' | 'resume' | 'evaluate' | 'predict' | 'score' | 'export' | 'synth' | 'watch';

export interface JobResult {
  exitCode: number;
  status: JobStatus;
  /** One line per problem, the engine's own words (empty when it completed). */
  problems: string[];
  /** Where it wrote (absolute paths; only those that exist). */
  paths: {runDir?: string; outDir?: string; report?: string; logFile?: string; files?: string[]};
  /** The engine's stdout, for commands whose answer it is (synth). */
  stdout?: string;
  /** For watch: the run's own last run_end, if it ended while watched. */
  runEnd?: Extract<EngineEvent, {type: 'run_end'}>;
  /** For watch: true when watching stopped (signal, timeout) while the run goes on. */
  watchStopped?: boolean;
}

/** A running engine command (or a followed events.jsonl): its events live, a stop request, its result. */
export interface Job {
  kind: JobKind;
  /** The run folder (train, resume, evaluate, watch) or null. */
  runDir: string | null;
  /** The output folder (predict, score, export), or null. */
  outDir: string | null;
  /** Events from the start to the end; invalid lines arrive as warning events. One consumer. */
  events: AsyncIterable<EngineEvent>;
  /** Graceful stop: the engine checkpoints and exits 130 (for watch: stop watching). A third call kills. */
  stop(): void;
  done: Promise<JobResult>;
}

// --- requests ----------------------------------------------------------------------------------------------------------

export interface TrainRequest {
  configured: Configured;
  /** Run name (default: <dataset>-<YYYYMMDD-HHMMSS>). */
  name?: string;
  /** Fine-tune from these weights. */
  init?: string;
}

export interface ResumeRequest {
  /** A run folder, or a name in the runs folder. */
  run: string;
  /** Dotted key -> value; only the schema's resume keys may change (the engine decides and says why not). */
  edits?: Record<string, unknown>;
}

/** A run folder or a checkpoint file. */
export type ModelRef = {kind: 'run'; runDir: string} | {kind: 'checkpoint'; file: string};

export interface EvaluateRequest {
  model: ModelRef;
  data?: string;
  split?: 'val' | 'all';
  device?: string;
  /** A config file for a bare checkpoint. */
  configFile?: string;
  figures?: boolean;
  /** Apply flags (flag -> text, e.g. normalization -> zscore) over what the checkpoint recorded. */
  apply?: Record<string, string>;
  /** Name of the new run folder a bare checkpoint is evaluated into. */
  name?: string;
}

export interface PredictRequest {
  model: ModelRef;
  inputs: string[];
  outDir: string;
  probabilities?: boolean;
  device?: string;
  configFile?: string;
  /** Apply flags (flag -> text) over what the checkpoint recorded. */
  apply?: Record<string, string>;
}

export interface ScoreRequest {
  pred: string;
  ref: string;
  outDir?: string;
  labels?: string;
}

export interface ExportRequest {
  model: ModelRef;
  out: string;
}

export interface SynthRequest {
  out: string;
  cases?: number;
  seed?: number;
  shape?: number[];
  spacing?: number[];
}

// --- runs, datasets, checkpoints ----------------------------------------------------------------------------------------

/** 'incomplete': a cross-validation run with folds still to train and none running, failed or interrupted (some
 * `--fold N` tasks not run yet); `train --resume RUN` trains the rest. */
export type RunStatus = 'completed' | 'running' | 'interrupted' | 'failed' | 'incomplete' | 'tensorboard' | 'unknown';

export interface RunInfo {
  name: string;
  dir: string;
  status: RunStatus;
  epoch: number | null;
  epochs: number | null;
  bestDice: number | null;
  /** Last change, ms since the epoch. */
  updated: number | null;
  dataRoot: string | null;
  /** Checkpoint files, absolute paths. */
  checkpoints: string[];
  hasEval: boolean;
  /** A cross-validation parent (RUN/folds/fold-k): folds trained of all, and the cross-validated Dice (mean, sd
   * of the first label) once RUN/cv/ is written; its checkpoints are then the folds' final models. */
  cv?: {folds: number; done: number; dice: number | null; std: number | null};
}

/** TensorBoard-style scalars: tag -> [[step, value], ...]. */
export type Scalars = Record<string, Array<[number, number]>>;

export interface RunDetail {
  info: RunInfo;
  /** The run's events.jsonl (empty for TensorBoard-only folders). */
  events: EngineEvent[];
  /** Its evaluation's events (eval/events.jsonl), if any. */
  evalEvents: EngineEvent[];
  /** Scalars read from TensorBoard logs, for folders without events. */
  scalars: Scalars | null;
}

export interface CheckpointDetails {
  path: string;
  parameters: number | null;
  features: number[] | null;
  epoch: number | null;
  metric: number | null;
  /** Human-readable lines (architecture, compatibility) as `heartseg inspect` prints them. */
  lines: string[];
  /** The engine's whole answer (inspect --json). */
  raw: Record<string, unknown>;
}

export interface DoctorStatus {
  ok: boolean;
  python: string | null;
  torch: string | null;
  /** "cpu", "cuda: NVIDIA H100 (80 GB)", ... */
  device: string | null;
  /** One line for the status bar, e.g. a reason when `ok` is false. */
  message: string;
}

/** Everything `heartseg doctor` reports (snake_case, as printed with --json). */
export interface DoctorReport {
  python: {path: string; source: string; why: string; version: string} | null;
  engine: {
    torch: string | null; cuda_available: boolean; cuda: string | null; cudnn: number | null; threads?: number;
    devices: Array<{index: number; name: string; total_memory_mb: number; capability: string; bf16: boolean}>;
    packages: Record<string, string | null>; problems: string[]; python: {version: string; executable: string};
  } | null;
  problems: string[];
  via: string | null;
  pythonia_fallback?: string;
}

export interface DatasetRef {
  root: string;
  name: string;
}

export interface DatasetCase {
  name: string;
  /** Voxels in z, y, x order (the engine's, after reorientation to RAS). */
  shape: number[];
  /** Voxel size in mm, z, y, x. */
  spacing: number[];
  orientation: string | null;
  min: number | null;
  max: number | null;
  /** Foreground label volume in mL (all labels together). */
  labelMl: number | null;
}

export interface DatasetReport {
  root: string;
  name: string;
  cases: DatasetCase[];
  /** Summary lines (median spacing, shape ranges, class balance ...). */
  summary: string[];
  problems: string[];
}

export interface SliceOptions {
  cols: number;
  rows: number;
  /** Draw the label / reference / prediction overlays. */
  overlay: boolean;
  colour: boolean;
}

/** A label volume for the 3D view: data x fastest, i.e. a C-order [z, y, x] array. */
export interface MaskVolume {
  data: ArrayLike<number>;
  shape: [number, number, number];
  spacing: [number, number, number];
}

/** One opened case: slices drawn on demand, masks for the 3D view. */
export interface CaseView {
  name: string;
  /** Number of slices along an axis (in display orientation: axial runs inferior to superior). */
  slices(axis: Axis): number;
  /** Overlay layers, e.g. ["label"] or ["reference", "prediction"]. */
  layers: string[];
  /** Which colour or character shows which layer. */
  legend(colour: boolean): string;
  /** Something the viewer should know (e.g. no saved prediction for this case). */
  note?: string;
  /** Terminal lines of slice `index`, physical aspect kept. */
  render(axis: Axis, index: number, opts: SliceOptions): string[];
  mask(layer: string): MaskVolume | null;
}

export interface Board {
  url: string;
  port: number;
  logdir: string;
  stop(): Promise<void>;
  /** Resolves with TensorBoard's exit code when it ends. */
  exited: Promise<number>;
}

export interface AbortOptions {
  signal?: AbortSignal;
}

// --- the core -----------------------------------------------------------------------------------------------------------

export interface Core {
  /** Absolute. */
  runsDir: string;
  /** The dataset given on the command line, if any. */
  defaultData: string | null;

  /** One line for the UI's status bar. */
  doctor(): Promise<DoctorStatus>;
  doctorReport(): Promise<DoctorReport>;
  /** The engine's interpreter, resolved and checked (a bad-input error naming what is wrong otherwise). */
  python(): Promise<string>;

  // datasets
  listDatasets(): Promise<DatasetRef[]>;
  analyzeDataset(root: string): Promise<DatasetReport>;
  openCase(root: string, caseName: string): Promise<CaseView>;
  /** Reference and prediction of an evaluated case. */
  openEvalCase(runDir: string, caseName: string): Promise<CaseView>;

  // config
  /** The engine's plan for a dataset and device ('auto', 'cpu', 'cuda'). Rejects with the engine's problems. */
  plan(data: string, opts?: {device?: string; budgetMinutes?: number; cacheDir?: string; threads?: number} & AbortOptions): Promise<Plan>;
  presets(): Preset[];
  /** Build and check a config from its layers (synchronous: presets and files are small). */
  configure(layers: ConfigLayers): Configured;
  /** Ask the engine's cost model; a newer request should abort the older one. */
  estimate(config: Record<string, unknown>, opts?: AbortOptions): Promise<Estimate>;
  saveConfig(config: Record<string, unknown>, file?: string): Promise<string>;

  // engine commands
  train(req: TrainRequest): Promise<Job>;
  resume(req: ResumeRequest): Promise<Job>;
  evaluate(req: EvaluateRequest): Promise<Job>;
  predict(req: PredictRequest): Promise<Job>;
  score(req: ScoreRequest): Promise<Job>;
  export(req: ExportRequest): Promise<Job>;
  synth(req: SynthRequest): Promise<Job>;
  /** Describe a checkpoint; with text, `lines` holds the engine's own table (per-block shapes). */
  inspect(file: string, opts?: {patch?: number[]; text?: boolean; apply?: Record<string, string>}): Promise<CheckpointDetails>;

  // runs
  /** A run by path or by name in the runs folder (absolute); throws a bad-input error when there is none. */
  findRun(run: string): string;
  /** A run folder or a checkpoint file, from what a person typed. */
  modelRef(arg: string): ModelRef;
  listRuns(): RunInfo[];
  readRun(dir: string): Promise<RunDetail>;
  /** Follow RUN/events.jsonl from the start, live, until the run ends (follow: through resumes, until stop()). */
  watch(run: string, opts?: {follow?: boolean}): Job;
  board(target?: string): Promise<Board>;

  /** Stop every process started through this core (engines, TensorBoard, the Python bridge). */
  shutdown(): Promise<void>;
}
