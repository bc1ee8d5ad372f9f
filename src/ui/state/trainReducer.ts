// Training state from engine events: progress, throughput, per-epoch history, memory and checkpoints. Pure.
import {type EngineEvent, type EventOf, metricNumber} from '../../core/events.js';
import {type CvSummary, ensemblePostprocessText, FOLD_STATE, type FoldState, isCvSummary} from '../../core/folds.js';
import {commonReducer, initialCommon, pushMessage, type CommonState} from './common.js';
import {fmtNum} from './format.js';

export interface EpochRow {
  epoch: number;
  trainLoss: number;
  valLoss: number | null;
  valDice: number | null;
  lr: number;
  seconds: number;
  isBest: boolean;
}

export interface Memory {
  cpuMb: number;
  gpuAllocatedMb: number | null;
  gpuReservedMb: number | null;
}

/** One fold of a cross-validation: where it stands and its validation Dice once trained. */
export type FoldRow = Pick<FoldState, 'status' | 'valDice'>;

/** A cross-validation run: its folds, the one in training, and the cross-validated Dice once cv/ is written. */
export interface FoldsState {
  folds: FoldRow[];
  current: number | null;
  cv: Pick<CvSummary, 'cases' | 'dice'> | null;
}

export interface TrainState extends CommonState {
  data: {cases: number; train: number; val: number; patch: number[]; spacing: number[]} | null;
  epoch: number;
  epochs: number;
  iter: number;
  iters: number;
  loss: number | null;
  lr: number | null;
  voxelsPerS: number | null;
  itersPerS: number | null;
  lastStep: {time: number; epoch: number; iter: number} | null;
  etaSeconds: number | null;
  /** The run's time budget (train.minutes, in seconds) when it has one; the schedule runs on the clock. */
  budgetSeconds: number | null;
  /** Training time so far as the engine counts it against the budget. */
  elapsedSeconds: number | null;
  memory: Memory | null;
  history: EpochRow[];
  bestDice: number | null;
  checkpoints: Array<{kind: EventOf<'checkpoint'>['kind']; path: string; epoch: number}>;
  /** Set for a cross-validation run; the fields above then describe the fold in training. */
  cv: FoldsState | null;
}

/** What one training shows (a fold starting gets these afresh). */
const initialTraining = {
  data: null,
  epoch: 0,
  epochs: 0,
  iter: 0,
  iters: 0,
  loss: null,
  lr: null,
  voxelsPerS: null,
  itersPerS: null,
  lastStep: null,
  etaSeconds: null,
  budgetSeconds: null,
  elapsedSeconds: null,
  memory: null,
  history: [],
  bestDice: null,
  checkpoints: [],
  stage: null,
} satisfies Partial<TrainState>;

export const initialTrain: TrainState = {
  ...initialCommon,
  ...initialTraining,
  cv: null,
};

/** A fold event: the folds strip, and a fresh training view when a fold starts (its own epochs, charts, best). */
function onFold(state: TrainState, e: EventOf<'fold'>): TrainState {
  if (e.fold === 'all') return state;
  const prev = state.cv ?? {folds: [], current: null, cv: null};
  const folds = Array.from({length: Math.max(e.folds, prev.folds.length)}, (_, k) => prev.folds[k] ?? {status: 'pending' as const, valDice: null});
  const status = FOLD_STATE[e.status];
  // a fold's end told twice (a resumed run's history, then the engine's account of its finished folds): once; a
  // repeated start still counts, as it may bring a fold into view
  if (status !== 'training' && prev.folds[e.fold]?.status === status && (e.val_dice ?? null) === prev.folds[e.fold].valDice) return state;
  folds[e.fold] = {status, valDice: e.val_dice ?? folds[e.fold].valDice};
  // The view shows one fold: a fold starting takes it unless another one in it is still training (a job array
  // trains several at once; the core then streams the one it follows and reports the others' ends).
  const inView = prev.current !== null && prev.current !== e.fold && folds[prev.current]?.status === 'training';
  const takes = status === 'training' && !inView;
  const cv = {...prev, folds, current: takes ? e.fold : prev.current === e.fold ? null : prev.current};
  const text = `fold ${e.fold}/${e.folds} ${e.status}${e.val_dice != null ? `: validation Dice ${fmtNum(e.val_dice)}` : ''}`;
  const messages = pushMessage(state.messages, {level: e.status === 'failed' ? 'error' : 'info', text});
  return takes ? {...state, ...initialTraining, status: 'running', cv, messages} : {...state, cv, messages};
}

function upsertEpoch(history: EpochRow[], row: EpochRow): EpochRow[] {
  // A resumed run repeats epochs after its last checkpoint: the newer row replaces the older one.
  const kept = history.filter((r) => r.epoch < row.epoch);
  return [...kept, row];
}

/** train.minutes of a run_start's config, in seconds; null without a budget. */
function budgetOf(config: Record<string, unknown> | null | undefined): number | null {
  const minutes = (config?.train as {minutes?: unknown} | undefined)?.minutes;
  return typeof minutes === 'number' && minutes > 0 ? minutes * 60 : null;
}

export function trainReducer(state: TrainState, event: EngineEvent): TrainState {
  const base = event.type === 'run_start' ? {...state, budgetSeconds: budgetOf(event.config), elapsedSeconds: null} : state;
  const common = commonReducer(base, event);
  if (common) return common;
  state = base;
  switch (event.type) {
    case 'fold':
      return onFold(state, event);
    case 'eval_summary': {
      if (!state.cv || !isCvSummary(event)) return state;
      const dice = Object.entries(event.summary).filter(([, m]) => m.dice)
        .map(([label, m]) => ({label, mean: metricNumber(m.dice.mean ?? null), std: metricNumber(m.dice.std ?? null)}));
      const cv = {...state.cv, cv: {cases: event.cases, dice}};
      if (!event.postprocess) return {...state, cv};
      return {...state, cv, messages: pushMessage(state.messages, {level: 'info', text: ensemblePostprocessText(event.postprocess)})};
    }
    case 'data_summary':
      return {
        ...state,
        data: {
          cases: event.cases,
          train: event.train_cases,
          val: event.val_cases,
          patch: event.patch,
          spacing: event.spacing,
        },
      };
    case 'epoch_start':
      return {...state, status: 'running', epoch: event.epoch, epochs: event.epochs, iter: 0, iters: event.iters};
    case 'step': {
      const prev = state.lastStep;
      let itersPerS = state.itersPerS;
      if (prev && prev.epoch === event.epoch && event.iter > prev.iter && event.time > prev.time) {
        itersPerS = (event.iter - prev.iter) / (event.time - prev.time);
      }
      return {
        ...state,
        status: 'running',
        epoch: event.epoch,
        iter: event.iter,
        iters: event.iters,
        loss: event.loss,
        lr: event.lr,
        voxelsPerS: event.voxels_per_s ?? state.voxelsPerS,
        itersPerS,
        lastStep: {time: event.time, epoch: event.epoch, iter: event.iter},
        elapsedSeconds: event.elapsed_seconds ?? state.elapsedSeconds,
      };
    }
    case 'epoch_end': {
      const row: EpochRow = {
        epoch: event.epoch,
        trainLoss: event.train_loss,
        valLoss: event.val_loss ?? null,
        valDice: event.val_dice ?? null,
        lr: event.lr,
        seconds: event.seconds,
        isBest: event.is_best ?? false,
      };
      const text =
        `epoch ${event.epoch}/${event.epochs} loss ${fmtNum(event.train_loss)}` +
        (event.val_dice != null ? ` dice ${fmtNum(event.val_dice)}` : '') +
        (event.is_best ? ' best' : '');
      return {
        ...state,
        epoch: event.epoch,
        epochs: event.epochs,
        iter: state.iters,
        lr: event.lr,
        history: upsertEpoch(state.history, row),
        memory: {
          cpuMb: event.memory.cpu_rss_mb,
          gpuAllocatedMb: event.memory.gpu_allocated_mb ?? null,
          gpuReservedMb: event.memory.gpu_reserved_mb ?? null,
        },
        bestDice: event.best_dice ?? (event.val_dice != null ? Math.max(event.val_dice, state.bestDice ?? -1) : state.bestDice),
        etaSeconds: event.eta_seconds ?? null,
        budgetSeconds: event.budget_seconds ?? state.budgetSeconds,
        elapsedSeconds: event.elapsed_seconds ?? state.elapsedSeconds,
        voxelsPerS: event.voxels_per_s ?? state.voxelsPerS,
        messages: pushMessage(state.messages, {level: 'info', text}),
      };
    }
    case 'checkpoint':
      return {
        ...state,
        checkpoints: [...state.checkpoints.filter((c) => c.kind !== event.kind), {kind: event.kind, path: event.path, epoch: event.epoch}],
      };
    default:
      return state;
  }
}

/** Replay a whole event history (for example a run's events.jsonl) into a state. */
export function replayTrain(events: Iterable<EngineEvent>, start: TrainState = initialTrain): TrainState {
  let state = start;
  for (const e of events) state = trainReducer(state, e);
  return state;
}

/** Seconds left in the current epoch from the measured step rate, or null when unknown. */
export function epochEtaSeconds(state: TrainState): number | null {
  if (!state.itersPerS || state.itersPerS <= 0 || state.iters <= 0) return null;
  return Math.max(0, state.iters - state.iter) / state.itersPerS;
}

/** Seconds left in the run: against the time budget when it has one (it ends on time), else from the epochs. */
export function runEtaSeconds(state: TrainState): number | null {
  if (state.status !== 'running') return null;
  if (state.budgetSeconds !== null && state.elapsedSeconds !== null) return Math.max(0, state.budgetSeconds - state.elapsedSeconds);
  const epochLeft = epochEtaSeconds(state);
  const last = state.history.at(-1);
  const remainingEpochs = Math.max(0, state.epochs - state.epoch);
  if (last && remainingEpochs >= 0) {
    const perEpoch = state.history.reduce((s, r) => s + r.seconds, 0) / state.history.length;
    const inEpoch = last.epoch === state.epoch ? 0 : (epochLeft ?? perEpoch);
    return inEpoch + remainingEpochs * perEpoch;
  }
  if (epochLeft !== null && state.iters > 0 && state.itersPerS) {
    return epochLeft + remainingEpochs * (state.iters / state.itersPerS);
  }
  return state.etaSeconds;
}
