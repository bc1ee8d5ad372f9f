// Per-case metrics: number keys pick the sort column, the selected row is highlighted, long tables scroll.
import React from 'react';
import {Box, Text} from 'ink';
import type {CaseRow, SortDir} from '../state/evalReducer.js';
import {fit, fmtNum} from '../state/format.js';
import {useColour} from '../theme.js';

/** Short column titles so eight metrics fit in 80 columns. */
const SHORT: Record<string, string> = {
  precision: 'prec',
  recall: 'recall',
  abs_vol_diff_ml: 'ΔmL',
  rel_vol_diff: 'Δvol',
};

export interface MetricsTableProps {
  rows: CaseRow[];
  columns: string[];
  sort: {column: string; dir: SortDir};
  selected: number;
  width: number;
  height: number;
}

export function MetricsTable({rows, columns, sort, selected, width, height}: MetricsTableProps) {
  const c = useColour();
  // Case names are what a person reads first: as wide as the longest (8..18), the metrics share the rest.
  const longest = Math.max(0, ...rows.map((r) => r.case.length + (r.label && rows.some((x) => x.label !== r.label) ? r.label.length + 1 : 0)));
  const caseW = Math.max(8, Math.min(18, longest + 2, width - columns.length * 5));
  const cellW = Math.max(5, Math.floor((width - caseW) / Math.max(1, columns.length)));
  const all = ['case', ...columns];
  const header = all
    .map((col, i) => {
      const mark = sort.column === col ? (sort.dir === 'asc' ? '↑' : '↓') : '';
      const title = `${i + 1}${SHORT[col] ?? col}${mark}`;
      return i === 0 ? fit(title, caseW) : fit(title, cellW, 'right');
    })
    .join('');
  const bodyRows = Math.max(1, height - 1);
  const first = Math.max(0, Math.min(selected - Math.floor(bodyRows / 2), rows.length - bodyRows));
  const shown = rows.slice(first, first + bodyRows);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text bold wrap="truncate">
        {header}
      </Text>
      {shown.map((row, i) => {
        const index = first + i;
        const cells = columns.map((col) => fit(fmtNum(row.metrics[col], col.startsWith('hd') || col === 'assd' || col.endsWith('_ml') ? 2 : 3), cellW, 'right'));
        const dice = row.metrics.dice;
        const tone = Number.isFinite(dice) ? (dice >= 0.8 ? 'green' : dice >= 0.5 ? 'yellow' : 'red') : undefined;
        return (
          <Text key={`${row.case}/${row.label}`} inverse={index === selected} wrap="truncate">
            <Text color={tone ? c(tone) : undefined}>{fit(row.case + (row.label && rows.some((r) => r.label !== row.label) ? `/${row.label}` : ''), caseW)}</Text>
            {cells.join('')}
          </Text>
        );
      })}
      {rows.length === 0 ? <Text dimColor>no cases scored yet</Text> : null}
    </Box>
  );
}
