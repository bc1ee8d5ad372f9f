// Dataset: the analysis table, a histogram of label volumes, problems, and a slice viewer with the label overlay.
import React, {useState} from 'react';
import {Box, Text} from 'ink';
import {Frame, bodyRows} from '../components/Frame.js';
import {Histogram} from '../components/Histogram.js';
import {Prompt} from '../components/Prompt.js';
import {SliceView} from '../components/SliceView.js';
import {useAsync} from '../hooks/useAsync.js';
import {useKeys} from '../hooks/useKeys.js';
import {AXIS_KEYS, sliceScrollKeys, useSliceNav} from '../hooks/useSliceNav.js';
import {fit, fmtNum} from '../state/format.js';
import {useColour, useSize, useTheme} from '../theme.js';
import type {ScreenProps} from './types.js';

export function Dataset(props: ScreenProps & {root?: string}) {
  const [root, setRoot] = useState(props.root ?? props.core.defaultData ?? null);
  if (!root) {
    return (
      <Frame title="dataset" keys={[['enter', 'open'], ['esc', 'back']]}>
        <Text>Which dataset? A folder in Decathlon layout (dataset.json, imagesTr/, labelsTr/).</Text>
        <Prompt label="folder:" onSubmit={(t) => t.trim() && setRoot(t.trim())} onCancel={props.back} />
      </Frame>
    );
  }
  return <DatasetView {...props} root={root} />;
}

/** One number when isotropic, else z/y/x (the core gives them in z, y, x order). */
function spacingText(spacing: number[]): string {
  const r = spacing.map((s) => +s.toFixed(3));
  return r.every((s) => s === r[0]) ? String(r[0] ?? '') : r.join('/');
}

function DatasetView({core, go, back, root}: ScreenProps & {root: string}) {
  const c = useColour();
  const {colour} = useTheme();
  const {columns, rows} = useSize();
  const analysis = useAsync(() => core.analyzeDataset(root), [core, root]);
  const cases = analysis.status === 'done' ? analysis.value.cases : [];
  const [selected, setSelected] = useState(0);
  const current = cases[Math.min(selected, cases.length - 1)];
  const view = useAsync(() => (current ? core.openCase(root, current.name) : Promise.reject(new Error('no case'))), [core, root, current?.name]);
  const nav = useSliceNav(view.status === 'done' ? view.value.slices.bind(view.value) : null);
  const keys: Record<string, () => void> = {
    escape: back,
    '[': () => setSelected((s) => Math.max(0, s - 1)),
    ']': () => setSelected((s) => Math.min(cases.length - 1, s + 1)),
    ...sliceScrollKeys(nav),
    t: () => go({screen: 'configure', root}),
  };
  for (const [k, axis] of Object.entries(AXIS_KEYS)) keys[k] = () => nav.setAxis(axis);
  useKeys(keys);

  const body = bodyRows(rows);
  const leftW = Math.max(44, Math.floor(columns * 0.5));
  const rightW = columns - leftW - 1;
  const keyHints: Array<[string, string]> = [['[ ]', 'case'], ['a/s/c', 'axis'], ['↑↓', 'slice'], ['l', 'label'], ['t', 'configure'], ['esc', 'back']];
  if (analysis.status !== 'done') {
    return (
      <Frame title="dataset" status={root} keys={keyHints}>
        {analysis.status === 'loading' ? <Text>analysing {root}…</Text> : <Text color={c('red')}>{analysis.error}</Text>}
      </Frame>
    );
  }
  const report = analysis.value;
  const headLines = [...report.summary.slice(0, 3)];
  const problemLines = report.problems.slice(0, 3);
  const histRows = Math.max(4, Math.min(7, Math.floor(body / 3)));
  const tableRows = Math.max(2, body - headLines.length - problemLines.length - histRows - 2);
  const first = Math.max(0, Math.min(selected - Math.floor(tableRows / 2), cases.length - tableRows));
  const nameW = Math.max(8, leftW - 32);
  const sliceRows = body - headLines.length - problemLines.length - (report.problems.length > problemLines.length ? 1 : 0);
  let slice: React.ReactNode;
  if (view.status === 'loading') slice = <Text dimColor>reading {current?.name ?? ''}…</Text>;
  else if (view.status === 'error') slice = <Text color={c('red')}>{view.error}</Text>;
  else {
    const cv = view.value;
    const lines = cv.render(nav.axis, nav.index, {cols: rightW, rows: sliceRows - 1, overlay: nav.overlay, colour});
    const caption = `${cv.name} · ${nav.axis} ${nav.index + 1}/${nav.count} · label ${nav.overlay ? 'on' : 'off'}`;
    slice = <SliceView caption={caption} lines={lines} width={rightW} height={sliceRows} />;
  }
  const panel = body - headLines.length - problemLines.length - (report.problems.length > problemLines.length ? 1 : 0);
  return (
    <Frame title={`dataset · ${report.name}`} status={`${cases.length} cases`} keys={keyHints}>
      {headLines.map((l) => (
        <Text key={l} wrap="truncate">
          {l}
        </Text>
      ))}
      {problemLines.map((p) => (
        <Text key={p} wrap="truncate" color={c('yellow')}>
          ! {p}
        </Text>
      ))}
      {report.problems.length > problemLines.length ? <Text dimColor>…and {report.problems.length - problemLines.length} more problems</Text> : null}
      <Box height={panel}>
        <Box flexDirection="column" width={leftW}>
          <Text bold wrap="truncate">
            {fit(' case', nameW)} {fit('z,y,x', 10)} {fit('mm z,y,x', 13)} {fit('mL', 6, 'right')}
          </Text>
          {cases.slice(first, first + tableRows).map((cs, i) => (
            <Text key={cs.name} wrap="truncate" inverse={first + i === selected}>
              {first + i === selected ? '›' : ' '}{fit(cs.name, nameW - 1)} {fit(cs.shape.join('x'), 10)} {fit(spacingText(cs.spacing), 13)} {fit(fmtNum(cs.labelMl, 1), 6, 'right')}
            </Text>
          ))}
          <Box flexGrow={1} />
          <Histogram title="label volume" unit=" mL" values={cases.map((cs) => cs.labelMl ?? NaN)} width={leftW - 1} height={histRows} />
        </Box>
        <Box width={1} />
        <Box flexDirection="column" width={rightW}>
          {slice}
        </Box>
      </Box>
    </Frame>
  );
}
