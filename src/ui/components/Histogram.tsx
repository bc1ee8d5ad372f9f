// A histogram of values drawn with vertical block bars, with its range underneath.
import React from 'react';
import {Box, Text} from 'ink';
import {columnBars, histogramBins} from '../lib/bars.js';
import {fmtNum} from '../state/format.js';
import {useColour} from '../theme.js';

export interface HistogramProps {
  title: string;
  values: number[];
  width: number;
  height: number;
  unit?: string;
}

export function Histogram({title, values, width, height, unit = ''}: HistogramProps) {
  const c = useColour();
  const finite = values.filter(Number.isFinite);
  const binCount = Math.max(1, Math.min(width, 2 * Math.ceil(Math.sqrt(finite.length || 1)) + 2));
  const {counts, edges} = histogramBins(finite, binCount);
  // Each bin gets an equal share of the width so the chart fills it.
  const cellW = Math.max(1, Math.floor(width / counts.length));
  const rows = columnBars(counts, Math.max(1, height - 2)).map((r) => [...r].map((ch) => ch.repeat(cellW)).join(''));
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  const range = `${fmtNum(lo, 1)}${unit}`;
  const right = `${fmtNum(hi, 1)}${unit}`;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text bold wrap="truncate">
        {title} <Text dimColor>(n={finite.length}, peak {Math.max(0, ...counts)})</Text>
      </Text>
      {rows.map((r, i) => (
        <Text key={i} color={c('magenta')}>
          {r}
        </Text>
      ))}
      <Text dimColor wrap="truncate">
        {range.padEnd(Math.max(range.length + 1, cellW * counts.length - right.length))}
        {right}
      </Text>
    </Box>
  );
}
