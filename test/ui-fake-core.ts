// A fake Core for the UI tests: canned runs, datasets and cases; engine runs whose events the test pushes.
import {configSchema, defaultConfig} from '../src/core/config.js';
import type {Axis, CaseView, Core, DatasetReport, EngineRun, MaskVolume, Preset, RunDetail, RunInfo} from '../src/core/api.js';
import type {EngineEvent} from '../src/core/events.js';

/** An async stream the test feeds by hand. */
export class Channel<T> implements AsyncIterable<T> {
  private queue: T[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  push(...items: T[]): void {
    this.queue.push(...items);
    this.wake?.();
  }
  close(): void {
    this.closed = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      if (this.closed) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

export class FakeRun implements EngineRun {
  readonly channel = new Channel<EngineEvent>();
  readonly events = this.channel;
  stops = 0;
  private resolveDone!: (code: number) => void;
  readonly done = new Promise<number>((r) => (this.resolveDone = r));
  constructor(readonly kind: string, readonly runDir: string, readonly args: unknown) {}
  stop(): void {
    this.stops++;
  }
  push(...events: EngineEvent[]): void {
    this.channel.push(...events);
  }
  end(code = 0): void {
    this.channel.close();
    this.resolveDone(code);
  }
}

/** A ball of the given radius in a cube: a mask for the 3D view. */
export function ballMask(n = 16, radius = 5): MaskVolume {
  const data = new Uint8Array(n * n * n);
  const c = (n - 1) / 2;
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    if ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2 <= radius ** 2) data[(z * n + y) * n + x] = 1;
  }
  return {data, shape: [n, n, n], spacing: [1, 1, 1]};
}

const COUNTS: Record<Axis, number> = {axial: 20, coronal: 30, sagittal: 40};

/** Draws a recognisable line per call so tests can see which slice is shown. */
export function fakeCase(name: string, layers: string[], mask: MaskVolume | null): CaseView {
  return {
    name,
    layers,
    legend: (colour) => (colour ? layers.join(' red · ') : layers.join(' # · ')),
    slices: (axis) => COUNTS[axis],
    render: (axis, index, opts) => [`SLICE ${name} ${axis} ${index} overlay=${opts.overlay ? 'on' : 'off'} colour=${opts.colour}`, '▀▀▀▀'],
    mask: (layer) => (layer === 'prediction' || layer === 'label' ? mask : null),
  };
}

export const t0 = 1_795_770_000;

/** A whole training's events: epochs with falling loss and rising Dice. */
export function trainEvents(epochs: number, runDir = '/runs/demo'): EngineEvent[] {
  const out: EngineEvent[] = [
    {v: 1, type: 'run_start', time: t0, command: 'train', run_dir: runDir, device: 'cpu', torch: '2.5.1'},
    {v: 1, type: 'data_summary', time: t0 + 1, cases: 4, train_cases: 3, val_cases: 1, labels: {'0': 'background', '1': 'left atrium'}, spacing: [1, 1, 1], patch: [16, 32, 32]},
  ];
  for (let e = 1; e <= epochs; e++) {
    out.push({v: 1, type: 'epoch_start', time: t0 + 10 * e, epoch: e, epochs, iters: 5});
    out.push({v: 1, type: 'step', time: t0 + 10 * e + 2, epoch: e, iter: 2, iters: 5, loss: 1 / e, lr: 0.001, voxels_per_s: 210000});
    out.push({v: 1, type: 'step', time: t0 + 10 * e + 4, epoch: e, iter: 4, iters: 5, loss: 0.9 / e, lr: 0.001, voxels_per_s: 220000});
    out.push({
      v: 1, type: 'epoch_end', time: t0 + 10 * e + 6, epoch: e, epochs, train_loss: 1 / e, lr: 0.001 * (1 - e / (epochs + 1)), seconds: 6,
      memory: {cpu_rss_mb: 800 + e, gpu_allocated_mb: null, gpu_reserved_mb: null},
      val_loss: 1.1 / e, val_dice: 0.5 + 0.04 * e, best_dice: 0.5 + 0.04 * e, is_best: true, eta_seconds: 6 * (epochs - e),
    });
  }
  out.push({v: 1, type: 'checkpoint', time: t0 + 10 * epochs + 7, path: `${runDir}/checkpoints/best.pt`, kind: 'best', epoch: epochs, metric: 0.5 + 0.04 * epochs});
  return out;
}

export function runInfo(over: Partial<RunInfo> & {name: string}): RunInfo {
  return {
    dir: `/runs/${over.name}`, status: 'completed', epoch: null, epochs: null, bestDice: null, updated: null,
    dataRoot: '/data/la', checkpoints: [], hasEval: false, ...over,
  };
}

export interface FakeCoreOptions {
  runs?: RunDetail[];
  report?: DatasetReport;
  presets?: Preset[];
}

export class FakeCore implements Core {
  runsDir = '/runs';
  defaultData: string | null = '/data/la';
  configSchema = configSchema;
  runs: RunDetail[];
  started: FakeRun[] = [];
  saved: Array<{config: Record<string, unknown>; file?: string}> = [];
  opened: string[] = [];
  inspected: string[] = [];
  shutdowns = 0;
  boards: string[] = [];
  private readonly presetList: Preset[];
  private readonly report: DatasetReport;

  constructor(opts: FakeCoreOptions = {}) {
    this.runs = opts.runs ?? [];
    this.presetList = opts.presets ?? [
      {name: 'demo', description: 'a few minutes on a CPU', config: {model: {features: [4, 8, 16, 32]}, train: {epochs: 3, iters_per_epoch: 5}, data: {patch: [32, 32, 32]}}},
      {name: 'full', description: 'the seed model', config: {model: {features: [32, 64, 128, 256]}}},
    ];
    this.report = opts.report ?? {
      root: '/data/la', name: 'la',
      cases: [
        {name: 'la_000', shape: [40, 40, 20], spacing: [1.25, 1.25, 2.5], orientation: 'RAS', min: -1, max: 7, labelMl: 12.5},
        {name: 'la_001', shape: [42, 40, 20], spacing: [1.25, 1.25, 2.5], orientation: 'RAS', min: -1, max: 6, labelMl: 30.25},
        {name: 'la_002', shape: [44, 40, 20], spacing: [1.25, 1.25, 2.5], orientation: 'RAS', min: -2, max: 5, labelMl: 18},
      ],
      summary: ['3 cases · median spacing 1.25 x 1.25 x 2.5 mm', 'label volume 12.5-30.3 mL'],
      problems: ['labelsTr/la_003.nii.gz: no image for this label'],
    };
  }

  get lastRun(): FakeRun {
    const r = this.started.at(-1);
    if (!r) throw new Error('no run started');
    return r;
  }

  doctor = async () => ({ok: true, python: '3.12.3', torch: '2.5.1', device: 'cpu', message: 'Python 3.12.3 · torch 2.5.1 · cpu'});
  listRuns = async () => this.runs.map((r) => r.info);
  readRun = async (dir: string) => {
    const r = this.runs.find((x) => x.info.dir === dir);
    if (!r) throw new Error(`${dir}: no such run`);
    return r;
  };
  inspectCheckpoint = async (path: string) => {
    this.inspected.push(path);
    return {path, parameters: 353949, features: [4, 8, 16, 32], epoch: 3, metric: 0.62, lines: ['in 1 · out 1 · compatible with heartseg']};
  };
  listDatasets = async () => [{root: '/data/la', name: 'la'}];
  analyzeDataset = async (root: string) => ({...this.report, root});
  openCase = async (_root: string, name: string) => {
    this.opened.push(name);
    return fakeCase(name, ['label'], ballMask());
  };
  openEvalCase = async (_run: string, name: string) => {
    this.opened.push(name);
    return fakeCase(name, ['reference', 'prediction'], name.includes('empty') ? ballMask(8, 0.1) : ballMask());
  };
  defaultConfig = () => defaultConfig() as unknown as Record<string, unknown>;
  presets = async () => this.presetList;
  saveConfig = async (config: Record<string, unknown>, file?: string) => {
    this.saved.push({config, file});
    return file ?? '/runs/configs/config.json';
  };
  private start(kind: string, runDir: string, args: unknown): Promise<EngineRun> {
    const run = new FakeRun(kind, runDir, args);
    this.started.push(run);
    return Promise.resolve(run);
  }
  train = (launch: {config: Record<string, unknown>} | {resume: string}) =>
    this.start('train', 'resume' in launch ? launch.resume : '/runs/new', launch);
  evaluate = (opts: {runDir: string; data?: string}) => this.start('evaluate', opts.runDir, opts);
  predict = (opts: {runDir: string; inputs: string[]; outDir: string}) => this.start('predict', opts.runDir, opts);
  watch = (runDir: string) => this.start('watch', runDir, runDir);
  board = async (runDir: string) => {
    this.boards.push(runDir);
    return {url: 'http://127.0.0.1:6006/', stop: async () => undefined};
  };
  shutdown = async () => {
    this.shutdowns++;
    for (const r of this.started) r.stop();
  };
}
