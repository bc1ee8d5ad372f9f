// The user-facing config schema (zod). Mirrors py/heartseg/config.py key for key; a test compares the defaults.
import {readFileSync} from 'node:fs';
import {z} from 'zod';

/** Allowed values of the string fields that take a fixed set (same table as CHOICES in config.py). */
export const CHOICES = {
  'data.normalization': ['zscore', 'percentile', 'none'],
  'optim.optimizer': ['adamw', 'sgd'],
  'optim.schedule': ['poly', 'cosine', 'step', 'constant'],
  'train.loss': ['dice_ce', 'dice'],
  'infer.stitch_device': ['auto', 'cpu', 'cuda'],
} as const;

// Each message is the "expected ..." part of "KEY: got VALUE, expected MESSAGE".
const intAtLeast = (def: number, min: number, doc: string) =>
  z.number({error: 'integer'}).int({error: 'integer'})
    .refine(v => v >= min, {error: `an integer >= ${min}`}).default(def).describe(doc);
const numIn = (def: number, doc: string, ok: (v: number) => boolean, expected: string) =>
  z.number({error: 'number'}).refine(ok, {error: expected}).default(def).describe(doc);
const bool = (def: boolean, doc: string) => z.boolean({error: 'true/false'}).default(def).describe(doc);
const str = (def: string, doc: string) => z.string({error: 'string'}).default(def).describe(doc);
const choice = <K extends keyof typeof CHOICES>(key: K, def: (typeof CHOICES)[K][number], doc: string) =>
  z.enum(CHOICES[key] as unknown as [string, ...string[]], {error: `one of ${CHOICES[key].join(', ')}`})
    .default(def).describe(doc);
const int = (def: number, doc: string) => z.number({error: 'integer'}).int({error: 'integer'}).default(def).describe(doc);
const intList = () => z.array(z.number({error: 'integer'}).int({error: 'integer'}), {error: 'list of integer'});
const numList = () => z.array(z.number({error: 'number'}), {error: 'list of number'});

export const dataSchema = z.strictObject({
  root: str('', 'Dataset folder in Decathlon layout (dataset.json, imagesTr/, labelsTr/).'),
  cache_dir: str('', 'Folder for preprocessed cases; empty means $HEARTSEG_CACHE or ~/.cache/heartseg.'),
  spacing: numList().nullable().refine(v => v === null || (v.length === 3 && v.every(s => s > 0)),
    {error: 'null or three positive numbers'}).default(null)
    .describe("Target voxel spacing in mm as [z, y, x]; null means the dataset's median spacing."),
  normalization: choice('data.normalization', 'zscore',
    "Intensity normalisation: 'zscore' (per case, over the body), 'percentile' (clip 0.5-99.5 %, then z-score) or 'none'."),
  val_fraction: numIn(0.2, 'Share of cases held out for validation when val_cases is empty.', v => v >= 0 && v < 1, 'a number in [0, 1)'),
  val_cases: z.array(z.string({error: 'string'}), {error: 'list of string'}).default(() => [])
    .describe('Case names held out for validation; empty means a seeded split by val_fraction.'),
  split_seed: int(0, 'Seed of the train/validation split.'),
  max_cases: intAtLeast(0, 0, 'Use at most this many cases (0 means all); for quick trials.'),
  patch: intList().refine(v => v.length === 3 && v.every(p => p >= 8), {error: 'three sizes >= 8'})
    .default(() => [64, 128, 128]).describe('Training patch size in voxels, [z, y, x].'),
  batch: intAtLeast(2, 1, 'Patches per training step (per process when distributed).'),
  foreground_share: numIn(0.33, 'Minimum share of patches centred on a foreground voxel (label chosen uniformly).',
    v => v >= 0 && v <= 1, 'a number in [0, 1]'),
  workers: intAtLeast(0, 0, 'DataLoader worker processes (0 samples in the training process).'),
});

export const augmentSchema = z.strictObject({
  flip: bool(true, 'Random flips along each axis.'),
  rotate: bool(true, 'Random rotation in the axial (y, x) plane.'),
  rotate_degrees: numIn(15, 'Largest rotation angle in degrees.', () => true, 'number'),
  scale: bool(true, 'Random isotropic zoom.'),
  scale_range: numList().refine(v => v.length === 2 && v[0] > 0 && v[0] <= v[1],
    {error: '[low, high] with 0 < low <= high'}).default(() => [0.85, 1.15]).describe('Zoom factor range [low, high].'),
  intensity: bool(true, 'Random intensity scale and shift.'),
  gamma: bool(true, 'Random gamma on the intensity range.'),
  noise: bool(true, 'Additive Gaussian noise.'),
  probability: numIn(0.2, 'Probability of each spatial/intensity transform (flips use 0.5 per axis).',
    v => v >= 0 && v <= 1, 'a number in [0, 1]'),
});

export const modelSchema = z.strictObject({
  features: intList()
    .refine(v => v.length >= 2 && v.every(f => f >= 1), {error: 'at least two positive channel counts'})
    .default(() => [32, 64, 128, 256])
    .describe('Channels per encoder level; depth is its length; the bottleneck has twice the last.'),
  in_channels: intAtLeast(1, 1, 'Input channels (image modalities).'),
  out_channels: intAtLeast(0, 0,
    "Output channels; 0 means from the dataset's labels (1 for one foreground label, else labels incl. background)."),
});

export const optimSchema = z.strictObject({
  optimizer: choice('optim.optimizer', 'adamw', "'adamw' or 'sgd' (Nesterov momentum)."),
  lr: numIn(1e-3, 'Peak learning rate.', v => v > 0, 'a positive number'),
  weight_decay: numIn(1e-4, 'Weight decay.', () => true, 'number'),
  momentum: numIn(0.99, 'SGD momentum (ignored by AdamW).', () => true, 'number'),
  schedule: choice('optim.schedule', 'poly', "Learning-rate schedule: 'poly', 'cosine', 'step' or 'constant'."),
  warmup_epochs: int(0, 'Epochs of linear warm-up before the schedule.'),
  step_size: int(30, "Epochs between decays for the 'step' schedule."),
  step_gamma: numIn(0.5, "Decay factor for the 'step' schedule.", () => true, 'number'),
  grad_clip: numIn(12, 'Clip the gradient norm to this value (0 turns clipping off).', v => v >= 0, 'a number >= 0'),
});

export const trainSchema = z.strictObject({
  epochs: intAtLeast(100, 1, 'Number of epochs.'),
  iters_per_epoch: intAtLeast(250, 1, 'Training steps per epoch.'),
  val_every: intAtLeast(1, 1, 'Validate on whole validation volumes every this many epochs.'),
  patience: intAtLeast(0, 0, 'Stop after this many validations without a better Dice (0 means never stop early).'),
  loss: choice('train.loss', 'dice_ce', "'dice_ce' (soft Dice + cross-entropy) or 'dice'."),
  seed: int(0, 'Seed for weights, sampling and augmentation.'),
  deterministic: bool(false, 'Deterministic algorithms (slower; makes runs and resumes reproducible).'),
  device: str('auto', "'auto', 'cpu', 'cuda' or 'cuda:N'."),
  amp: bool(true, 'Mixed precision on CUDA (bf16 where supported, else fp16 with a scaler); CPU always runs fp32.'),
  channels_last: bool(false, 'Use the channels_last_3d memory format.'),
  compile: bool(false, 'Wrap the model in torch.compile.'),
  threads: int(0, "CPU threads for torch (0 means torch's default)."),
  tb_image_every: int(5, 'Write a validation slice image to TensorBoard every this many epochs.'),
  step_event_seconds: numIn(1, "Least time between two 'step' events.", () => true, 'number'),
  sync_bn: bool(true, 'Synchronise BatchNorm across ranks under torchrun, so N ranks with batch B train like one process with batch N*B.'),
});

export const inferSchema = z.strictObject({
  overlap: numIn(0.5, 'Sliding-window overlap, from 0 (none) to below 1.', v => v >= 0 && v < 1, 'a number in [0, 1)'),
  gaussian: bool(true, 'Gaussian importance weighting of window centres (else constant).'),
  tta: bool(false, 'Mirroring test-time augmentation (up to 8x the cost).'),
  sw_batch: intAtLeast(2, 1, 'Windows per forward pass.'),
  keep_largest: bool(true, 'Keep only the largest connected component per label.'),
  stitch_device: choice('infer.stitch_device', 'auto',
    "Where probabilities are accumulated: 'auto' (the model's device if it fits), 'cpu' or 'cuda'."),
});

export const configSchema = z.strictObject({
  name: str('', 'Run name; empty means one made from the date and the dataset.'),
  data: dataSchema.prefault({}).describe('Dataset, preprocessing and patch sampling.'),
  augment: augmentSchema.prefault({}).describe('Training-time augmentation.'),
  model: modelSchema.prefault({}).describe('Network architecture.'),
  optim: optimSchema.prefault({}).describe('Optimiser and learning-rate schedule.'),
  train: trainSchema.prefault({}).describe('The training loop.'),
  infer: inferSchema.prefault({}).describe('Sliding-window inference (validation, evaluation, prediction).'),
});

export type HeartsegConfig = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export const SECTIONS = ['data', 'augment', 'model', 'optim', 'train', 'infer'] as const;
export type Section = (typeof SECTIONS)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** The complete default config (what `python -m heartseg config --defaults` prints). */
export function defaultConfig(): HeartsegConfig {
  return configSchema.parse({});
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let v: unknown = input;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

function keyOf(path: PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

function shapeAt(path: PropertyKey[]): string[] {
  const section = path[0] as string | undefined;
  const shapes: Record<string, object> = {data: dataSchema.shape, augment: augmentSchema.shape, model: modelSchema.shape,
    optim: optimSchema.shape, train: trainSchema.shape, infer: inferSchema.shape};
  return Object.keys(section ? shapes[section] ?? {} : configSchema.shape).sort();
}

/** Validate a (possibly partial) config object; every problem names the key, the value and what was expected. */
export function validateConfig(input: unknown): {ok: true; config: HeartsegConfig} | {ok: false; problems: string[]} {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return {ok: false, problems: [`config: got ${JSON.stringify(input)}, expected a JSON object`]};
  }
  const result = configSchema.safeParse(input);
  if (result.success) return {ok: true, config: result.data};
  const problems = result.error.issues.map(issue => {
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length ? `${keyOf(issue.path)}.` : '';
      return `unknown config key ${prefix}${issue.keys[0]} (known: ${shapeAt(issue.path).join(', ')})`;
    }
    const value = valueAt(input, issue.path);
    return `${keyOf(issue.path)}: got ${value === undefined ? 'nothing' : JSON.stringify(value)}, expected ${issue.message}`;
  });
  return {ok: false, problems: [...new Set(problems)]};
}

/** Deep merge of config objects (later wins), as heartseg.config.merge does. */
export function mergeConfig(base: Record<string, unknown>, ...overrides: Record<string, unknown>[]): Record<string, unknown> {
  let out: Record<string, unknown> = {...base};
  for (const override of overrides) {
    const next: Record<string, unknown> = {...out};
    for (const [k, v] of Object.entries(override)) {
      const old = next[k];
      const both = isPlainObject(v) && isPlainObject(old);
      next[k] = both ? mergeConfig(old as Record<string, unknown>, v as Record<string, unknown>) : v;
    }
    out = next;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Read a JSON config file (partial allowed); problems are prefixed with the file name. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError([`${file}: config file not found`]);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`${file}: not valid JSON (${(e as Error).message})`]);
  }
  if (!isPlainObject(data)) throw new ConfigError([`${file}: got ${JSON.stringify(data)}, expected a JSON object`]);
  const check = validateConfig(data);
  if (!check.ok) throw new ConfigError(check.problems.map(p => `${file}: ${p}`));
  return data;
}

/** Set a dotted key ("train.epochs") in a nested partial config. */
export function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(node[p])) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

/** One editable field for forms and help: key, description, default and how to edit it. */
export interface FieldInfo {
  key: string;
  description: string;
  default: unknown;
  kind: 'integer' | 'number' | 'boolean' | 'string' | 'choice' | 'list';
  choices?: readonly string[];
}

/** Every leaf of the config with its description, in schema order (for generated forms). */
export function configFields(): FieldInfo[] {
  const defaults = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  const fields: FieldInfo[] = [];
  const sections: Record<Section, {shape: Record<string, z.ZodType>}> = {data: dataSchema, augment: augmentSchema,
    model: modelSchema, optim: optimSchema, train: trainSchema, infer: inferSchema};
  fields.push({key: 'name', description: configSchema.shape.name.description ?? '', default: '', kind: 'string'});
  for (const section of SECTIONS) {
    for (const [name, schema] of Object.entries(sections[section].shape)) {
      const key = `${section}.${name}`;
      const def = defaults[section][name];
      const choices = (CHOICES as Record<string, readonly string[]>)[key];
      const kind: FieldInfo['kind'] = choices ? 'choice' : Array.isArray(def) || def === null ? 'list'
        : typeof def === 'boolean' ? 'boolean' : typeof def === 'string' ? 'string'
        : INTEGER_KEYS.has(key) ? 'integer' : 'number';
      fields.push({key, description: schema.description ?? '', default: def, kind, ...(choices ? {choices} : {})});
    }
  }
  return fields;
}

const INTEGER_KEYS = new Set(['data.split_seed', 'data.max_cases', 'data.batch', 'data.workers', 'model.in_channels',
  'model.out_channels', 'optim.warmup_epochs', 'optim.step_size', 'train.epochs', 'train.iters_per_epoch',
  'train.val_every', 'train.patience', 'train.seed', 'train.threads', 'train.tb_image_every', 'infer.sw_batch']);
