// The core facade the terminal UI receives: every file, process and Python question goes through `Core`.
// Tests pass a fake Core; `createCore` (core/facade/) wires the real modules.
import type {z} from 'zod';
import type {EngineEvent} from './events.js';

export type Axis = 'axial' | 'sagittal' | 'coronal';

/** TensorBoard-style scalars: tag -> [[step, value], ...]. */
export type Scalars = Record<string, Array<[number, number]>>;

export interface DoctorStatus {
  ok: boolean;
  python: string | null;
  torch: string | null;
  /** "cpu", "cuda: NVIDIA H100 (80 GB)", ... */
  device: string | null;
  /** One line for the status bar, e.g. a reason when `ok` is false. */
  message: string;
}

export type RunStatus = 'completed' | 'running' | 'interrupted' | 'failed' | 'tensorboard' | 'unknown';

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
}

export interface RunDetail {
  info: RunInfo;
  /** The run's events.jsonl (empty for TensorBoard-only folders). */
  events: EngineEvent[];
  /** Scalars read from TensorBoard logs, for folders without events. */
  scalars: Scalars | null;
}

export interface CheckpointDetails {
  path: string;
  parameters: number | null;
  features: number[] | null;
  epoch: number | null;
  metric: number | null;
  /** Human-readable lines (architecture, blocks, compatibility) as `heartseg inspect` prints them. */
  lines: string[];
}

export interface DatasetRef {
  root: string;
  name: string;
}

export interface DatasetCase {
  name: string;
  /** Voxels as stored in the file (x, y, z). */
  shape: number[];
  /** Voxel size in mm (x, y, z). */
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
  /** Overlay layers, e.g. ["label"] or ["reference", "prediction"]; their colours come from the renderer. */
  layers: string[];
  /** Which colour or character shows which layer. */
  legend(colour: boolean): string;
  /** Something the viewer should know (e.g. no saved prediction for this case). */
  note?: string;
  /** Terminal lines (ANSI colours when opts.colour, else plain characters) of slice `index`, physical aspect kept. */
  render(axis: Axis, index: number, opts: SliceOptions): string[];
  mask(layer: string): MaskVolume | null;
}

/** A running engine (or a followed events.jsonl). */
export interface EngineRun {
  runDir: string;
  events: AsyncIterable<EngineEvent>;
  /** Graceful stop (SIGINT to the engine: checkpoint kept, exit 130). */
  stop(): void;
  /** Exit code once the process (or the follow) ends. */
  done: Promise<number>;
}

export interface Board {
  url: string;
  stop(): Promise<void>;
}

export interface Preset {
  name: string;
  description: string;
  config: Record<string, unknown>;
}

export interface Core {
  runsDir: string;
  /** The dataset given on the command line, if any. */
  defaultData: string | null;
  doctor(): Promise<DoctorStatus>;
  listRuns(): Promise<RunInfo[]>;
  readRun(dir: string): Promise<RunDetail>;
  inspectCheckpoint(path: string): Promise<CheckpointDetails>;
  listDatasets(): Promise<DatasetRef[]>;
  analyzeDataset(root: string): Promise<DatasetReport>;
  openCase(root: string, caseName: string): Promise<CaseView>;
  /** Reference and prediction of an evaluated case. */
  openEvalCase(runDir: string, caseName: string): Promise<CaseView>;
  /** The config schema the Configure form is generated from. */
  configSchema: z.ZodType;
  defaultConfig(): Record<string, unknown>;
  presets(): Promise<Preset[]>;
  /** Write a config file; returns its path. */
  saveConfig(config: Record<string, unknown>, file?: string): Promise<string>;
  train(launch: {config: Record<string, unknown>} | {resume: string}): Promise<EngineRun>;
  evaluate(opts: {runDir: string; data?: string}): Promise<EngineRun>;
  predict(opts: {runDir: string; inputs: string[]; outDir: string}): Promise<EngineRun>;
  watch(runDir: string): Promise<EngineRun>;
  board(runDir: string): Promise<Board>;
  /** Stop every process started through this core (engines, TensorBoard, Python bridge). */
  shutdown(): Promise<void>;
}

export {createCore, type CoreOptions} from './facade/index.js';
