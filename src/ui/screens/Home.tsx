// Home: recent runs and datasets, the actions, and a one-line doctor status.
import React, {useState} from 'react';
import {Box, Text} from 'ink';
import type {RunInfo} from '../../core/api.js';
import {Frame} from '../components/Frame.js';
import {useAsync} from '../hooks/useAsync.js';
import {useKeys} from '../hooks/useKeys.js';
import type {ScreenProps} from './types.js';
import {fit, fmtNum, runProgress} from '../state/format.js';
import {useColour, useSize} from '../theme.js';

export type HomeProps = Pick<ScreenProps, 'core' | 'go' | 'quit'>;

export const STATUS_MARK: Record<RunInfo['status'], string> = {
  completed: '✓',
  running: '▶',
  interrupted: '‖',
  failed: '✗',
  incomplete: '…',
  tensorboard: '≈',
  unknown: '?',
};

export function Home({core, go, quit}: HomeProps) {
  const c = useColour();
  const {columns, rows} = useSize();
  const doctor = useAsync(() => core.doctor(), [core]);
  const runs = useAsync(async () => core.listRuns(), [core]);
  const datasets = useAsync(() => core.listDatasets(), [core]);
  const [pick, setPick] = useState(0);
  const dataList = datasets.status === 'done' ? datasets.value : [];
  const chosen = dataList[Math.min(pick, dataList.length - 1)]?.root ?? core.defaultData ?? undefined;
  const runList = runs.status === 'done' ? runs.value : [];
  const lastEvaluable = runList.find((r) => r.checkpoints.length > 0);
  useKeys({
    q: quit,
    d: () => go({screen: 'dataset', root: chosen}),
    c: () => go({screen: 'configure', root: chosen}),
    t: () => go({screen: 'configure', root: chosen}),
    r: () => go({screen: 'runs'}),
    e: () => lastEvaluable && go({screen: 'evaluate', runDir: lastEvaluable.dir, start: !lastEvaluable.hasEval, data: lastEvaluable.dataRoot ?? chosen}),
    up: () => setPick((p) => Math.max(0, p - 1)),
    down: () => setPick((p) => Math.min(Math.max(0, dataList.length - 1), p + 1)),
  });
  const half = Math.floor(columns / 2) - 1;
  const listRows = Math.max(3, rows - 12);
  const doctorLine =
    doctor.status === 'loading'
      ? 'checking Python and torch…'
      : doctor.status === 'error'
        ? `doctor failed: ${doctor.error}`
        : doctor.value.message;
  const doctorOk = doctor.status === 'done' && doctor.value.ok;
  return (
    <Frame
      title="home"
      status={core.runsDir}
      keys={[
        ['d', 'dataset'],
        ['c', 'configure'],
        ['t', 'train'],
        ['e', 'evaluate'],
        ['r', 'runs'],
        ['↑↓', 'pick data'],
        ['q', 'quit'],
      ]}
    >
      <Text>Train, evaluate and apply 3D U-Nets that segment the left atrium in cardiac MRI.</Text>
      <Text wrap="truncate">
        <Text color={c(doctor.status === 'loading' ? 'gray' : doctorOk ? 'green' : 'red')}>{doctor.status === 'loading' ? '…' : doctorOk ? '●' : '✗'}</Text> {doctorLine}
      </Text>
      <Text> </Text>
      <Box>
        <Box flexDirection="column" width={half}>
          <Text bold>Recent runs</Text>
          {runs.status === 'loading' ? <Text dimColor>reading {core.runsDir}…</Text> : null}
          {runs.status === 'error' ? <Text color={c('red')}>{runs.error}</Text> : null}
          {runs.status === 'done' && runList.length === 0 ? <Text dimColor>no runs yet: press c to configure one</Text> : null}
          {runList.slice(0, listRows).map((r) => (
            <Text key={r.dir} wrap="truncate">
              {STATUS_MARK[r.status]} {fit(r.name, half - 24)} {fit(runProgress(r) ?? r.status, 9)} {r.bestDice != null ? `Dice ${fmtNum(r.bestDice, 3)}` : ''}
            </Text>
          ))}
        </Box>
        <Box flexDirection="column" width={columns - half - 1}>
          <Text bold>Datasets</Text>
          {datasets.status === 'done' && dataList.length === 0 ? <Text dimColor>none yet: start with --data DIR</Text> : null}
          {dataList.slice(0, listRows).map((d, i) => (
            <Text key={d.root} wrap="truncate" inverse={i === pick}>
              {d.name} <Text dimColor>{d.root}</Text>
            </Text>
          ))}
        </Box>
      </Box>
    </Frame>
  );
}
