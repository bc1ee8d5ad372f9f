// evalReducer and the metrics table's sorting.
import {describe, expect, it} from 'vitest';
import type {EngineEvent} from '../src/core/events.js';
import {metricColumns, replayEval, sortRows, type CaseRow} from '../src/ui/state/evalReducer.js';

const base = {v: 1 as const, time: 1};
const caseEvent = (name: string, dice: number | null, hd95: number | 'inf', index: number): EngineEvent => ({
  ...base, type: 'case_metrics', case: name, label: 'left atrium', index, total: 3, metrics: {dice, hd95},
});

describe('evalReducer', () => {
  it('collects one row per case and label, numbers from the wire, progress and summary', () => {
    const s = replayEval([
      {...base, type: 'run_start', command: 'evaluate', run_dir: 'runs/a'},
      caseEvent('b', 0.9, 3.5, 1),
      caseEvent('a', null, 'inf', 2),
      {...base, type: 'eval_summary', cases: 2, out_dir: 'runs/a/eval', summary: {'left atrium': {dice: {mean: 0.9, std: null}}}},
    ]);
    expect(s.rows).toEqual([
      {case: 'b', label: 'left atrium', metrics: {dice: 0.9, hd95: 3.5}},
      {case: 'a', label: 'left atrium', metrics: {dice: NaN, hd95: Infinity}},
    ]);
    expect(s.done).toBe(2);
    expect(s.total).toBe(2);
    expect(s.summary).toEqual({'left atrium': {dice: {mean: 0.9, std: NaN}}});
    expect(s.outDir).toBe('runs/a/eval');
  });

  it('a repeated case replaces its row', () => {
    const s = replayEval([caseEvent('a', 0.5, 1, 1), caseEvent('a', 0.7, 1, 1)]);
    expect(s.rows.map((r) => r.metrics.dice)).toEqual([0.7]);
  });

  it('columns come in first-seen order', () => {
    const rows: CaseRow[] = [
      {case: 'a', label: 'x', metrics: {dice: 1, iou: 1}},
      {case: 'b', label: 'x', metrics: {dice: 1, hd95: 2}},
    ];
    expect(metricColumns(rows)).toEqual(['dice', 'iou', 'hd95']);
  });

  const rows: CaseRow[] = [
    {case: 'c', label: 'x', metrics: {dice: 0.8, hd95: Infinity}},
    {case: 'a', label: 'x', metrics: {dice: NaN, hd95: 2}},
    {case: 'b', label: 'x', metrics: {dice: 0.9, hd95: 5}},
    {case: 'd', label: 'x', metrics: {dice: 0.8, hd95: 1}},
  ];
  it.each([
    ['case', 'asc', ['a', 'b', 'c', 'd']],
    ['case', 'desc', ['d', 'c', 'b', 'a']],
    ['dice', 'desc', ['b', 'c', 'd', 'a']], // ties by name, NaN last
    ['dice', 'asc', ['c', 'd', 'b', 'a']],
    ['hd95', 'desc', ['c', 'b', 'a', 'd']], // infinity is the largest
    ['missing', 'asc', ['a', 'b', 'c', 'd']],
  ] as const)('sorts by %s %s', (column, dir, expected) => {
    expect(sortRows(rows, column, dir).map((r) => r.case)).toEqual(expected);
  });
});
