// A labelled progress bar with count, percentage, throughput and time left.
import React from 'react';
import {Text} from 'ink';
import {blockBar} from '../lib/bars.js';
import {fmtDuration} from '../../core/format.js';
import {useColour} from '../theme.js';

export interface ProgressBarProps {
  label: string;
  done: number;
  total: number;
  width: number;
  /** Seconds left; omitted or null shows "--". */
  eta?: number | null;
  /** Already formatted rate, e.g. "1.2 it/s". */
  rate?: string;
  colour?: string;
  /** Shown instead of done/total (e.g. "7m47s/30m00s" for a time budget). */
  count?: string;
}

export function ProgressBar({label, done, total, width, eta, rate, colour = 'cyan', count: shown}: ProgressBarProps) {
  const c = useColour();
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const count = shown ?? `${done}/${total}`;
  const tail = ` ${String(Math.round(fraction * 100)).padStart(3)}%` + (rate ? `  ${rate}` : '') + (eta !== undefined ? `  ETA ${fmtDuration(eta)}` : '');
  const head = `${label.padEnd(6)} ${count.padStart(9)} `;
  const barWidth = Math.max(5, width - head.length - tail.length);
  return (
    <Text wrap="truncate">
      {head}
      <Text color={c(colour)}>{blockBar(fraction, barWidth)}</Text>
      {tail}
    </Text>
  );
}
