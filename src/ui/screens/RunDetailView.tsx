// The right-hand side of Runs: a run's curves (from events or TensorBoard scalars), its eval summary and checkpoints.
import React from 'react';
import {Box, Text} from 'ink';
import type {CheckpointDetails, RunDetail, Scalars} from '../../core/api.js';
import {FoldsStrip} from '../components/FoldsStrip.js';
import {LineChart, type ChartSeries} from '../components/LineChart.js';
import {replayEval} from '../state/evalReducer.js';
import {fmtInt, fmtNum} from '../state/format.js';
import {replayTrain} from '../state/trainReducer.js';
import {useColour} from '../theme.js';

const baseName = (p: string) => p.split(/[\\/]/).pop() ?? p;

interface Chart {
  title: string;
  series: ChartSeries[];
  xStart: number;
  min?: number;
  max?: number;
}

const PALETTE = ['cyan', 'magenta', 'green', 'yellow', 'blue', 'red'];

/** Scalars as chart series aligned on their steps; tags grouped by their prefix ("Loss/Train" -> "Loss"). */
export function scalarCharts(scalars: Scalars): Chart[] {
  const groups = new Map<string, string[]>();
  for (const tag of Object.keys(scalars).sort()) {
    const group = tag.includes('/') ? tag.slice(0, tag.indexOf('/')) : tag;
    groups.set(group, [...(groups.get(group) ?? []), tag]);
  }
  // Groups with more curves (Loss/Train + Loss/Val) first: they are what people look for.
  return [...groups].sort((a, b) => b[1].length - a[1].length).map(([title, tags]) => {
    const steps = [...new Set(tags.flatMap((t) => scalars[t].map(([s]) => s)))].sort((a, b) => a - b);
    const series = tags.map((tag, i) => {
      const byStep = new Map(scalars[tag]);
      return {name: tag.includes('/') ? tag.slice(tag.indexOf('/') + 1) : tag, values: steps.map((s) => byStep.get(s) ?? null), colour: PALETTE[i % PALETTE.length]};
    });
    return {title, series, xStart: steps[0] ?? 0};
  });
}

export interface RunDetailViewProps {
  detail: RunDetail;
  inspected: CheckpointDetails | null;
  width: number;
  height: number;
}

export function RunDetailView({detail, inspected, width, height}: RunDetailViewProps) {
  const c = useColour();
  const {info} = detail;
  const train = replayTrain(detail.events);
  const evaluation = replayEval([...detail.events, ...detail.evalEvents]);
  const charts: Chart[] = [];
  if (train.history.length > 0) {
    const h = train.history;
    charts.push({
      title: 'loss',
      xStart: h[0].epoch,
      series: [
        {name: 'train', values: h.map((r) => r.trainLoss), colour: 'cyan'},
        {name: 'val', values: h.map((r) => r.valLoss), colour: 'magenta'},
      ],
    });
    if (h.some((r) => r.valDice !== null)) charts.push({title: 'val Dice', xStart: h[0].epoch, min: 0, max: 1, series: [{name: 'Dice', values: h.map((r) => r.valDice), colour: 'green'}]});
  } else if (detail.scalars) {
    charts.push(...scalarCharts(detail.scalars));
  }
  const points = detail.scalars ? Math.max(0, ...Object.values(detail.scalars).map((v) => v.length)) : train.history.length;
  const summary = evaluation.summary;
  const summaryLines = summary
    ? Object.entries(summary).map(([label, m]) => `${label}: Dice ${fmtNum(m.dice?.mean, 3)} ± ${fmtNum(m.dice?.std, 3)}${m.hd95 ? ` · HD95 median ${fmtNum(m.hd95.median, 2)} mm` : ''}`)
    : [];
  const inspectLines = inspected
    ? [
        `${baseName(inspected.path)}: ${inspected.parameters != null ? `${fmtInt(inspected.parameters)} parameters` : 'parameters unknown'}`,
        [
          inspected.features ? `features ${inspected.features.join(',')}` : '',
          inspected.epoch != null ? `epoch ${inspected.epoch}` : '',
          inspected.metric != null ? `metric ${fmtNum(inspected.metric)}` : '',
        ].filter(Boolean).join(' · '),
        ...inspected.lines,
      ].filter(Boolean)
    : [];
  const fixed = 3 + summaryLines.length + Math.min(info.checkpoints.length, 3) + Math.min(inspectLines.length, 6);
  const shownCharts = charts.slice(0, 2);
  const chartRows = shownCharts.length ? Math.max(2, Math.floor((height - fixed) / shownCharts.length) - 1) : 0;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text bold wrap="truncate">
        {info.name} <Text color={c(info.status === 'completed' ? 'green' : info.status === 'failed' ? 'red' : 'yellow')}>{info.status}</Text>
      </Text>
      <Text wrap="truncate" dimColor>
        {info.status === 'tensorboard' ? `TensorBoard log · ${points} steps · ${Object.keys(detail.scalars ?? {}).sort().join(', ')}`
          : info.cv ? `cross-validation · ${info.cv.done}/${info.cv.folds} folds trained · cv Dice ${info.cv.dice != null ? `${fmtNum(info.cv.dice)} ± ${fmtNum(info.cv.std)}` : '-'}${info.dataRoot ? ` · ${info.dataRoot}` : ''}`
          : `epoch ${info.epoch ?? '-'}/${info.epochs ?? '-'} · best Dice ${fmtNum(info.bestDice)}${info.dataRoot ? ` · ${info.dataRoot}` : ''}`}
      </Text>
      {shownCharts.map((ch) => (
        <LineChart key={ch.title} title={ch.title} series={ch.series} width={width} height={chartRows} xStart={ch.xStart} min={ch.min} max={ch.max} />
      ))}
      {train.cv ? <FoldsStrip cv={train.cv} /> : null}
      {charts.length === 0 && !train.cv ? <Text dimColor>no curves recorded yet</Text> : null}
      {summaryLines.map((l) => (
        <Text key={l} wrap="truncate" color={c('green')}>
          {l}
        </Text>
      ))}
      <Text wrap="truncate">checkpoints: {info.checkpoints.length ? '' : <Text dimColor>none</Text>}</Text>
      {info.checkpoints.slice(0, 3).map((p) => (
        <Text key={p} wrap="truncate" dimColor>
          {'  '}
          {info.cv ? p.slice(info.dir.length + 1) : baseName(p)}
        </Text>
      ))}
      {inspectLines.slice(0, 6).map((l, i) => (
        <Text key={i} wrap="truncate" color={c('cyan')}>
          {l}
        </Text>
      ))}
    </Box>
  );
}
