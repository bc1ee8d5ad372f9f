// Evaluation state from engine events: one row per case and label, the summary, progress. Pure.
import {metricNumber, type EngineEvent, type MetricValue} from '../../core/events.js';
import {commonReducer, initialCommon, type CommonState} from './common.js';

export interface CaseRow {
  case: string;
  label: string;
  metrics: Record<string, number>;
}

export type SummaryStats = Record<string, number>;

export interface EvalState extends CommonState {
  rows: CaseRow[];
  done: number;
  total: number | null;
  /** label -> metric -> statistic (mean, std, median, min, max) -> value. */
  summary: Record<string, Record<string, SummaryStats>> | null;
  outDir: string | null;
}

export const initialEval: EvalState = {...initialCommon, rows: [], done: 0, total: null, summary: null, outDir: null};

function toNumbers(values: Record<string, MetricValue>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(values)) out[k] = metricNumber(v);
  return out;
}

export function evalReducer(state: EvalState, event: EngineEvent): EvalState {
  const common = commonReducer(state, event);
  if (common) return common;
  switch (event.type) {
    case 'case_metrics': {
      const row: CaseRow = {case: event.case, label: event.label, metrics: toNumbers(event.metrics)};
      const rows = [...state.rows.filter((r) => !(r.case === row.case && r.label === row.label)), row];
      return {
        ...state,
        status: 'running',
        rows,
        done: event.index ?? rows.length,
        total: event.total ?? state.total,
      };
    }
    case 'eval_summary': {
      const summary: Record<string, Record<string, SummaryStats>> = {};
      for (const [label, metrics] of Object.entries(event.summary)) {
        summary[label] = {};
        for (const [metric, stats] of Object.entries(metrics)) summary[label][metric] = toNumbers(stats);
      }
      return {...state, summary, outDir: event.out_dir, total: event.cases};
    }
    default:
      return state;
  }
}

export function replayEval(events: Iterable<EngineEvent>, start: EvalState = initialEval): EvalState {
  let state = start;
  for (const e of events) state = evalReducer(state, e);
  return state;
}

/** Metric names in the order they first appear across rows (the table's columns). */
export function metricColumns(rows: CaseRow[]): string[] {
  const seen: string[] = [];
  for (const r of rows) for (const k of Object.keys(r.metrics)) if (!seen.includes(k)) seen.push(k);
  return seen;
}

export type SortDir = 'asc' | 'desc';

/** Rows sorted by a column ('case' or a metric); NaN always last, infinities in their numeric place. */
export function sortRows(rows: CaseRow[], column: string, dir: SortDir): CaseRow[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    if (column === 'case') return sign * (a.case.localeCompare(b.case) || a.label.localeCompare(b.label));
    const x = a.metrics[column] ?? NaN;
    const y = b.metrics[column] ?? NaN;
    if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? a.case.localeCompare(b.case) : 1) : -1;
    if (x === y) return a.case.localeCompare(b.case);
    return sign * (x < y ? -1 : 1);
  });
}
