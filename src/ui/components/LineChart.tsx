// A braille line chart with a title, a legend, y-axis extremes and the x range.
import React from 'react';
import {Box, Text} from 'ink';
import {plotBraille} from '../lib/braille.js';
import {fmtNum} from '../state/format.js';
import {useColour, useTheme} from '../theme.js';

export interface ChartSeries {
  name: string;
  values: Array<number | null>;
  colour: string;
}

export interface LineChartProps {
  title: string;
  series: ChartSeries[];
  width: number;
  /** Rows of plot (the title adds one). */
  height: number;
  /** Label of the first x value (e.g. the first epoch); the last is first + points - 1. */
  xStart?: number;
  min?: number;
  max?: number;
  digits?: number;
}

const AXIS = 7;

export function LineChart({title, series, width, height, xStart = 1, min, max, digits = 3}: LineChartProps) {
  const c = useColour();
  const {colour} = useTheme();
  const plotW = Math.max(4, width - AXIS - 1);
  const plotH = Math.max(1, height);
  // Without colour the series cannot be told apart by hue: later series are drawn as dots only.
  const grid = plotBraille(
    series.map((s, i) => ({values: s.values, lines: colour || i === 0})),
    plotW,
    plotH,
    {min, max},
  );
  const hasData = grid.points > 0 && series.some((s) => s.values.some((v) => v !== null && Number.isFinite(v)));
  const range = grid.points > 1 ? ` ${xStart}…${xStart + grid.points - 1}` : '';
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold>{title}</Text>
        <Text dimColor>{range}</Text>
        {series.map((s, i) => (
          <Text key={s.name} color={c(s.colour)}>
            {' '}
            {colour || i === 0 ? '━' : '·'}
            {s.name}
          </Text>
        ))}
      </Text>
      {grid.rows.map((row, r) => {
        const label = r === 0 ? fmtNum(grid.max, digits) : r === plotH - 1 ? fmtNum(grid.min, digits) : '';
        return (
          <Text key={r} wrap="truncate">
            <Text dimColor>{label.slice(0, AXIS).padStart(AXIS)}│</Text>
            {hasData ? segments(row, grid.owner[r], series, c) : r === Math.floor(plotH / 2) ? <Text dimColor>{' waiting for data'.slice(0, plotW)}</Text> : null}
          </Text>
        );
      })}
    </Box>
  );
}

/** Runs of cells owned by the same series, each in that series' colour. */
function segments(row: string, owner: number[], series: ChartSeries[], c: (n: string) => string | undefined) {
  const chars = [...row];
  const parts: React.ReactNode[] = [];
  let start = 0;
  for (let i = 1; i <= chars.length; i++) {
    if (i === chars.length || owner[i] !== owner[start]) {
      const s = owner[start] >= 0 ? series[owner[start]] : undefined;
      parts.push(
        <Text key={start} color={s ? c(s.colour) : undefined}>
          {chars.slice(start, i).join('')}
        </Text>,
      );
      start = i;
    }
  }
  return parts;
}
