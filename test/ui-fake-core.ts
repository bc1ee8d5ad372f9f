// A fake Core for the UI tests: canned runs, datasets and cases; engine runs whose events the test pushes.
import {configure} from '../src/core/app/configure.js';
import {AsyncQueue} from '../src/core/app/queue.js';
import type {Axis, CaseView, ConfigLayers, Core, DatasetReport, Estimate, Job, JobKind, JobResult, MaskVolume, Plan, Preset, RunDetail,
  RunInfo} from '../src/core/api.js';
import {getKey} from '../src/core/config.js';
import {UsageError} from '../src/core/errors.js';
import type {EngineEvent} from '../src/core/events.js';
import {statusOf} from '../src/core/status.js';

/** A job the test drives by hand: push events, then end it with an exit code (and the engine's problems). */
export class FakeRun implements Job {
  readonly queue = new AsyncQueue<EngineEvent>();
  readonly events = this.queue;
  stops = 0;
  private resolveDone!: (r: JobResult) => void;
  readonly done = new Promise<JobResult>((r) => (this.resolveDone = r));
  readonly outDir: string | null;
  constructor(readonly kind: JobKind, readonly runDir: string | null, readonly args: unknown, outDir: string | null = null) {
    this.outDir = outDir;
  }
  stop(): void {
    this.stops++;
  }
  push(...events: EngineEvent[]): void {
    this.queue.push(...events);
  }
  end(code = 0, problems: string[] = []): void {
    this.queue.end();
    this.resolveDone({exitCode: code, status: statusOf(code), problems, paths: this.runDir ? {runDir: this.runDir} : {}});
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
  /** The engine's plan for /data/la (null: planning fails with a message). */
  plan?: Plan | null;
}

/** A plan as the engine answers for a small CPU: its values differ from every default. */
export const FAKE_PLAN: Plan = {
  data: '/data/la', device: 'cpu: Fake CPU', raw: {},
  config: {data: {spacing: [1.25, 1.25, 1.25], patch: [32, 64, 80], batch: 2}, model: {features: [16, 32, 64]},
    train: {epochs: 21, iters_per_epoch: 50, device: 'cpu', precision: 'fp32'}},
  reasons: {'data.patch': 'covers 54% of the median case', 'model.features': '3 levels, width 16', 'train.epochs': '21 x 50 steps of ~2.1 s'},
  estimates: {step_seconds: 2.1, memory_gb: 0.37, train_minutes: 36.9, parameters: 1401969},
};

/** A stand-in cost model: parameters from the widths, so a test sees the estimate follow an edit. */
export function fakeEstimate(config: Record<string, unknown>): Estimate {
  const features = getKey(config, 'model.features') as number[];
  const patch = getKey(config, 'data.patch') as number[];
  if (Math.min(...patch) < 2 ** features.length) {
    return {parameters: null, memory_gb: null, step_seconds: null, total_minutes: null, device: null,
      problems: [`data.patch: got ${JSON.stringify(patch).replace(/,/g, ', ')}, expected sizes >= ${2 ** features.length} (the depth)`]};
  }
  const steps = (getKey(config, 'train.epochs') as number) * (getKey(config, 'train.iters_per_epoch') as number);
  return {parameters: features.reduce((a, f) => a + 1000 * f, 0), memory_gb: 0.5, step_seconds: 2, total_minutes: (steps * 2) / 60,
    device: 'cpu: Fake CPU', problems: []};
}

export class FakeCore implements Core {
  runsDir = '/runs';
  defaultData: string | null = '/data/la';
  runs: RunDetail[];
  started: FakeRun[] = [];
  saved: Array<{config: Record<string, unknown>; file?: string}> = [];
  opened: string[] = [];
  inspected: string[] = [];
  planned: string[] = [];
  estimated: Array<Record<string, unknown>> = [];
  shutdowns = 0;
  boards: string[] = [];
  private readonly presetList: Preset[];
  private readonly report: DatasetReport;
  private readonly planAnswer: Plan | null;

  constructor(opts: FakeCoreOptions = {}) {
    this.runs = opts.runs ?? [];
    this.planAnswer = opts.plan === undefined ? FAKE_PLAN : opts.plan;
    this.presetList = opts.presets ?? [
      {name: 'demo', description: 'a few minutes on a CPU', config: {model: {features: [4, 8, 16, 32]}, train: {epochs: 3, iters_per_epoch: 5}, data: {patch: [32, 32, 32]}}},
      {name: 'full', description: 'the seed model', config: {model: {features: [32, 64, 128, 256]}}},
    ];
    this.report = opts.report ?? {
      root: '/data/la', name: 'la',
      cases: [
        {name: 'la_000', shape: [20, 40, 40], spacing: [2.5, 1.25, 1.25], orientation: 'RAS', min: -1, max: 7, labelMl: 12.5},
        {name: 'la_001', shape: [20, 40, 42], spacing: [2.5, 1.25, 1.25], orientation: 'RAS', min: -1, max: 6, labelMl: 30.25},
        {name: 'la_002', shape: [20, 40, 44], spacing: [2.5, 1.25, 1.25], orientation: 'RAS', min: -2, max: 5, labelMl: 18},
      ],
      summary: ['3 cases · median spacing z,y,x 2.5 x 1.25 x 1.25 mm', 'label volume 12.5-30.3 mL'],
      problems: ['labelsTr/la_003.nii.gz: no image for this label'],
    };
  }

  get lastRun(): FakeRun {
    const r = this.started.at(-1);
    if (!r) throw new Error('no run started');
    return r;
  }

  doctor = async () => ({ok: true, python: '3.12.3', torch: '2.5.1', device: 'cpu', message: 'Python 3.12.3 · torch 2.5.1 · cpu'});
  doctorReport = async () => ({python: null, engine: null, problems: [], via: null});
  python = async () => '/usr/bin/python3';
  listRuns = () => this.runs.map((r) => r.info);
  readRun = async (dir: string) => {
    const r = this.runs.find((x) => x.info.dir === dir);
    if (!r) throw new Error(`${dir}: no such run`);
    return r;
  };
  findRun = (run: string) => run;
  modelRef = (arg: string) => ({kind: 'run' as const, runDir: arg});
  inspect = async (path: string) => {
    this.inspected.push(path);
    return {path, parameters: 353949, features: [4, 8, 16, 32], epoch: 3, metric: 0.62, lines: ['in 1 · out 1 · compatible with heartseg'], raw: {}};
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
  plan = async (data: string) => {
    this.planned.push(data);
    if (!this.planAnswer) throw new UsageError(`${data}: labelsTr/la_003.nii.gz: no image for this label`);
    return {...this.planAnswer, data};
  };
  presets = () => this.presetList;
  configure = (layers: ConfigLayers) => configure(layers, {loadPreset: (name) => {
    const p = this.presetList.find((x) => x.name === name);
    if (!p) throw new Error(`no preset ${name}`);
    return p.config;
  }});
  estimate = async (config: Record<string, unknown>) => {
    this.estimated.push(config);
    return fakeEstimate(config);
  };
  saveConfig = async (config: Record<string, unknown>, file?: string) => {
    this.saved.push({config, file});
    return file ?? '/runs/configs/config.json';
  };
  private start(kind: JobKind, runDir: string | null, args: unknown, outDir: string | null = null): Promise<FakeRun> {
    const run = new FakeRun(kind, runDir, args, outDir);
    this.started.push(run);
    return Promise.resolve(run);
  }
  train = (req: Parameters<Core['train']>[0]) => this.start('train', '/runs/new', req);
  resume = (req: Parameters<Core['resume']>[0]) => this.start('resume', req.run, req);
  evaluate = (req: Parameters<Core['evaluate']>[0]) => this.start('evaluate', req.model.kind === 'run' ? req.model.runDir : '/runs/eval', req);
  predict = (req: Parameters<Core['predict']>[0]) => this.start('predict', null, req, req.outDir);
  score = (req: Parameters<Core['score']>[0]) => this.start('score', null, req, req.outDir ?? '/runs/score');
  export = (req: Parameters<Core['export']>[0]) => this.start('export', null, req, req.out);
  synth = (req: Parameters<Core['synth']>[0]) => this.start('synth', null, req, req.out);
  watch = (runDir: string) => {
    const run = new FakeRun('watch', runDir, runDir);
    this.started.push(run);
    return run;
  };
  board = async (runDir?: string) => {
    this.boards.push(runDir ?? this.runsDir);
    return {url: 'http://127.0.0.1:6006/', port: 6006, logdir: runDir ?? this.runsDir, stop: async () => undefined, exited: new Promise<number>(() => undefined)};
  };
  shutdown = async () => {
    this.shutdowns++;
    for (const r of this.started) r.stop();
  };
}
