// Evaluate: the per-case metrics table (sortable), the summary, reference vs prediction slices, and a 3D view.
import React, {useEffect, useMemo, useState} from 'react';
import {Box, Text} from 'ink';
import type {Job} from '../../core/api.js';
import {Frame, bodyRows} from '../components/Frame.js';
import {MetricsTable} from '../components/MetricsTable.js';
import {ProgressBar} from '../components/ProgressBar.js';
import {SliceView} from '../components/SliceView.js';
import {SurfaceView} from '../components/SurfaceView.js';
import {errorText, useAsync} from '../hooks/useAsync.js';
import {useKeys} from '../hooks/useKeys.js';
import {useRunEvents} from '../hooks/useRunEvents.js';
import {AXIS_KEYS, sliceScrollKeys, useSliceNav} from '../hooks/useSliceNav.js';
import {evalReducer, initialEval, metricColumns, replayEval, sortRows, type EvalState, type SortDir} from '../state/evalReducer.js';
import {fmtNum} from '../state/format.js';
import {useColour, useSize, useTheme} from '../theme.js';
import type {ScreenProps} from './types.js';

type View = 'table' | 'slices' | '3d';
const VIEWS: View[] = ['table', 'slices', '3d'];

interface EvaluateArgs {
  runDir: string;
  start: boolean;
  data?: string;
}

export function Evaluate(props: ScreenProps & EvaluateArgs) {
  const {core, runDir, start} = props;
  // Without a new evaluation, show the one recorded in the run's events.
  const history = useAsync(() => (start ? Promise.resolve(initialEval) : core.readRun(runDir).then((d) => replayEval([...d.events, ...d.evalEvents]))), [core, runDir, start]);
  if (history.status === 'loading') return <Frame title="evaluate" keys={[['esc', 'back']]}><Text>reading {runDir}…</Text></Frame>;
  return <EvaluateView {...props} initial={history.status === 'done' ? history.value : initialEval} />;
}

function EvaluateView({core, runDir, start, data, back, initial}: ScreenProps & EvaluateArgs & {initial: EvalState}) {
  const c = useColour();
  const {colour} = useTheme();
  const {columns, rows} = useSize();
  const [run, setRun] = useState<Job | null>(null);
  const [startError, setStartError] = useState<string | null>(null);
  useEffect(() => {
    if (!start) return;
    let live = true;
    core.evaluate({model: {kind: 'run', runDir}, data}).then(
      (r) => (live ? setRun(r) : r.stop()),
      (e: unknown) => live && setStartError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [core, runDir, start, data]);
  const state = useRunEvents(run, evalReducer, initial);
  const [view, setView] = useState<View>('table');
  const columnsList = metricColumns(state.rows);
  const [sort, setSort] = useState<{column: string; dir: SortDir}>({column: 'case', dir: 'asc'});
  const sorted = useMemo(() => sortRows(state.rows, sort.column, sort.dir), [state.rows, sort]);
  const [selected, setSelected] = useState(0);
  const current = sorted[Math.min(selected, sorted.length - 1)];
  const caseView = useAsync(() => (current && view !== 'table' ? core.openEvalCase(runDir, current.case) : Promise.reject(new Error('pick a case'))), [core, runDir, current?.case, view === 'table']);
  const nav = useSliceNav(caseView.status === 'done' ? caseView.value.slices.bind(caseView.value) : null);
  const [turn, setTurn] = useState({yaw: 30, pitch: 20, zoom: 1});
  const running = run !== null && state.end === null;
  const sortBy = (i: number) => {
    const column = ['case', ...columnsList][i];
    if (!column) return;
    // Metrics where higher is better start descending; pressing the key again flips the order.
    setSort((old) => (old.column === column ? {column, dir: old.dir === 'asc' ? 'desc' : 'asc'} : {column, dir: column === 'case' ? 'asc' : 'desc'}));
  };
  const keys: Record<string, () => void> = {
    tab: () => setView((v) => VIEWS[(VIEWS.indexOf(v) + 1) % VIEWS.length]),
    'shift+tab': () => setView((v) => VIEWS[(VIEWS.indexOf(v) + VIEWS.length - 1) % VIEWS.length]),
    escape: () => (view !== 'table' ? setView('table') : running ? run.stop() : back()),
    '[': () => setSelected((s) => Math.max(0, s - 1)),
    ']': () => setSelected((s) => Math.min(sorted.length - 1, s + 1)),
  };
  if (view === 'table') {
    for (let i = 1; i <= 9; i++) keys[String(i)] = () => sortBy(i - 1);
    Object.assign(keys, {
      up: () => setSelected((s) => Math.max(0, s - 1)),
      down: () => setSelected((s) => Math.min(sorted.length - 1, s + 1)),
      enter: () => current && setView('slices'),
    });
  } else if (view === 'slices') {
    for (const [k, axis] of Object.entries(AXIS_KEYS)) keys[k] = () => nav.setAxis(axis);
    Object.assign(keys, sliceScrollKeys(nav));
  } else {
    Object.assign(keys, {
      left: () => setTurn((t) => ({...t, yaw: t.yaw - 15})),
      right: () => setTurn((t) => ({...t, yaw: t.yaw + 15})),
      up: () => setTurn((t) => ({...t, pitch: Math.min(90, t.pitch + 15)})),
      down: () => setTurn((t) => ({...t, pitch: Math.max(-90, t.pitch - 15)})),
      '+': () => setTurn((t) => ({...t, zoom: Math.min(4, t.zoom * 1.25)})),
      '-': () => setTurn((t) => ({...t, zoom: Math.max(0.25, t.zoom / 1.25)})),
    });
  }
  useKeys(keys);

  const body = bodyRows(rows);
  const summary = state.summary;
  const summaryLines = summary
    ? Object.entries(summary).map(
        ([label, m]) =>
          `${label}: Dice ${fmtNum(m.dice?.mean, 3)} ± ${fmtNum(m.dice?.std, 3)} (median ${fmtNum(m.dice?.median, 3)}, min ${fmtNum(m.dice?.min, 3)})` +
          (m.hd95 ? ` · HD95 median ${fmtNum(m.hd95.median, 2)} mm` : ''),
      )
    : [];
  const statusLine = startError
    ? `could not start the evaluation: ${startError}`
    : state.end && state.end.status !== 'completed'
      ? `evaluation ${state.end.status}: ${state.error?.text ?? state.end.reason}`
      : null;
  const top = summaryLines.length + (statusLine ? 1 : 0) + (running ? 1 : 0);
  const area = Math.max(3, body - top);
  const viewKeys: Array<[string, string]> =
    view === 'table'
      ? [['1-9', 'sort'], ['↑↓', 'case'], ['enter', 'slices'], ['tab', 'view'], ['esc', running ? 'stop' : 'back']]
      : view === 'slices'
        ? [['a/s/c', 'axis'], ['↑↓', 'slice'], ['l', 'overlay'], ['[ ]', 'case'], ['tab', '3D'], ['esc', 'table']]
        : [['←→', 'turn'], ['↑↓', 'tilt'], ['+/-', 'zoom'], ['[ ]', 'case'], ['tab', 'table'], ['esc', 'table']];
  let content: React.ReactNode;
  if (view === 'table') {
    content = <MetricsTable rows={sorted} columns={columnsList} sort={sort} selected={selected} width={columns} height={area} />;
  } else if (!current) {
    content = <Text dimColor>no case scored yet</Text>;
  } else if (caseView.status === 'loading') {
    content = <Text dimColor>reading {current.case}…</Text>;
  } else if (caseView.status === 'error') {
    content = <Text color={c('red')}>{caseView.error}</Text>;
  } else if (view === 'slices') {
    const cv = caseView.value;
    const lines = cv.render(nav.axis, nav.index, {cols: columns, rows: area - 1, overlay: nav.overlay, colour});
    const legend = cv.layers.length ? ` · ${nav.overlay ? cv.legend(colour) : 'overlay off'}` : '';
    const note = cv.note ? ` · ${cv.note}` : '';
    content = <SliceView caption={`${cv.name} · ${nav.axis} ${nav.index + 1}/${nav.count}${legend}${note}`} lines={lines} width={columns} height={area} />;
  } else {
    const cv = caseView.value;
    // Without a saved prediction the reference surface is better than nothing, and the caption says which it is.
    const predicted = cv.mask('prediction');
    const mask = predicted ?? cv.mask('reference');
    const what = predicted ? 'predicted surface' : mask ? `reference surface · ${cv.note ?? 'no prediction'}` : 'surface';
    content = <SurfaceView mask={mask} note={cv.note} yaw={turn.yaw} pitch={turn.pitch} zoom={turn.zoom} width={columns} height={area} caption={`${cv.name} · ${what}`} />;
  }
  return (
    <Frame title={`evaluate · ${view}`} status={runDir} keys={viewKeys}>
      {summaryLines.map((l) => (
        <Text key={l} wrap="truncate" color={c('green')} bold>
          {l}
        </Text>
      ))}
      {statusLine ? <Text color={c('red')} wrap="truncate">{statusLine}</Text> : null}
      {running ? (
        state.total ? (
          <ProgressBar label="cases" done={state.done} total={state.total} width={columns} />
        ) : (
          <Text dimColor wrap="truncate">{state.stage ? `${state.stage.name} ${state.stage.done}/${state.stage.total}` : 'starting the evaluation…'}</Text>
        )
      ) : null}
      <Box flexDirection="column" height={area}>
        {content}
      </Box>
    </Frame>
  );
}
