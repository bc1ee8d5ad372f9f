// The engine's event stream, as zod schemas. Mirrors py/heartseg/events.py; both validate schema/events/*.jsonl.
import {z} from 'zod';

const base = {v: z.literal(1), time: z.number()};
const num = z.number();
const optNum = num.nullable().optional();
const optStr = z.string().nullable().optional();
// Distances are infinite when one mask is empty; JSON has no infinity, so the engine writes "inf".
const metricValue = z.union([z.number(), z.literal('inf'), z.literal('-inf'), z.null()]);

export const memorySchema = z.object({
  cpu_rss_mb: num,
  gpu_allocated_mb: optNum,
  gpu_reserved_mb: optNum,
});

export const runStartSchema = z.object({
  ...base,
  type: z.literal('run_start'),
  command: z.string(),
  run_dir: optStr,
  config: z.record(z.string(), z.unknown()).nullable().optional(),
  pid: z.number().int().optional(),
  torch: optStr,
  device: optStr,
  world_size: z.number().int().optional(),
  resumed_from_epoch: z.number().int().nullable().optional(),
});

export const progressSchema = z.object({
  ...base,
  type: z.literal('progress'),
  stage: z.string(),
  done: z.number().int(),
  total: z.number().int(),
  item: optStr,
});

export const dataSummarySchema = z.object({
  ...base,
  type: z.literal('data_summary'),
  cases: z.number().int(),
  train_cases: z.number().int(),
  val_cases: z.number().int(),
  labels: z.record(z.string(), z.string()),
  spacing: z.array(num),
  patch: z.array(z.number().int()),
  cache_dir: optStr,
  cache_hits: z.number().int().optional(),
  cache_misses: z.number().int().optional(),
});

export const epochStartSchema = z.object({
  ...base,
  type: z.literal('epoch_start'),
  epoch: z.number().int(),
  epochs: z.number().int(),
  iters: z.number().int(),
});

export const stepSchema = z.object({
  ...base,
  type: z.literal('step'),
  epoch: z.number().int(),
  iter: z.number().int(),
  iters: z.number().int(),
  loss: num,
  lr: num,
  voxels_per_s: optNum,
});

export const epochEndSchema = z.object({
  ...base,
  type: z.literal('epoch_end'),
  epoch: z.number().int(),
  epochs: z.number().int(),
  train_loss: num,
  lr: num,
  seconds: num,
  memory: memorySchema,
  val_loss: optNum,
  val_dice: optNum,
  val_dice_per_label: z.record(z.string(), num).nullable().optional(),
  best_dice: optNum,
  is_best: z.boolean().optional(),
  eta_seconds: optNum,
  voxels_per_s: optNum,
});

export const checkpointSchema = z.object({
  ...base,
  type: z.literal('checkpoint'),
  path: z.string(),
  kind: z.enum(['last', 'best']),
  epoch: z.number().int(),
  metric: optNum,
});

export const caseMetricsSchema = z.object({
  ...base,
  type: z.literal('case_metrics'),
  case: z.string(),
  label: z.string(),
  metrics: z.record(z.string(), metricValue),
  index: z.number().int().nullable().optional(),
  total: z.number().int().nullable().optional(),
});

const statsSchema = z.record(z.string(), metricValue);

export const evalSummarySchema = z.object({
  ...base,
  type: z.literal('eval_summary'),
  cases: z.number().int(),
  out_dir: z.string(),
  summary: z.record(z.string(), z.record(z.string(), statsSchema)),
});

export const warningSchema = z.object({
  ...base,
  type: z.literal('warning'),
  message: z.string(),
  file: optStr,
  hint: optStr,
});

export const errorSchema = z.object({
  ...base,
  type: z.literal('error'),
  message: z.string(),
  file: optStr,
  hint: optStr,
  kind: z.enum(['bad_input', 'internal', 'out_of_memory', 'io']).optional(),
});

export const runEndSchema = z.object({
  ...base,
  type: z.literal('run_end'),
  status: z.enum(['completed', 'interrupted', 'failed']),
  reason: z.string(),
  exit_code: z.number().int(),
  best_dice: optNum,
  epoch: z.number().int().nullable().optional(),
});

export const eventSchema = z.discriminatedUnion('type', [
  runStartSchema,
  progressSchema,
  dataSummarySchema,
  epochStartSchema,
  stepSchema,
  epochEndSchema,
  checkpointSchema,
  caseMetricsSchema,
  evalSummarySchema,
  warningSchema,
  errorSchema,
  runEndSchema,
]);

export type EngineEvent = z.infer<typeof eventSchema>;
export type EventOf<T extends EngineEvent['type']> = Extract<EngineEvent, {type: T}>;
export type MetricValue = z.infer<typeof metricValue>;

export type ParseResult = {ok: true; event: EngineEvent} | {ok: false; error: string; line: string};

/** Parse one line of the event stream; never throws. */
export function parseEventLine(line: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return {ok: false, error: 'not JSON', line};
  }
  const result = eventSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') + ': ' : '';
    return {ok: false, error: `${where}${issue?.message ?? 'invalid event'}`, line};
  }
  return {ok: true, event: result.data};
}

/** Turn a metric value from the wire into a number (Infinity for "inf", NaN for null). */
export function metricNumber(value: MetricValue | undefined): number {
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  if (value === null || value === undefined) return NaN;
  return value;
}
