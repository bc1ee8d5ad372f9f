// Runs: every run folder (finished, running, interrupted, TensorBoard-only) with curves and checkpoints; actions.
import React, {useEffect, useState} from 'react';
import {Box, Text} from 'ink';
import type {CheckpointDetails, Job} from '../../core/api.js';
import {CONTRACT} from '../../core/generated/contract.js';
import {parseAssignments} from '../../core/app/configure.js';
import {defaultRunName} from '../../core/paths.js';
import {Frame, bodyRows} from '../components/Frame.js';
import {Prompt} from '../components/Prompt.js';
import {errorText, useAsync} from '../hooks/useAsync.js';
import {useKeys} from '../hooks/useKeys.js';
import {useRunEvents} from '../hooks/useRunEvents.js';
import {initialEval, evalReducer} from '../state/evalReducer.js';
import {fit, fmtNum, runProgress} from '../state/format.js';
import {useColour, useSize} from '../theme.js';
import {STATUS_MARK} from './Home.js';
import {RunDetailView} from './RunDetailView.js';
import type {Route} from '../state/navReducer.js';
import type {ScreenProps} from './types.js';

export function Runs({core, go: push, replace, back, select}: ScreenProps & {select?: string}) {
  const c = useColour();
  const {columns, rows} = useSize();
  const [refresh, setRefresh] = useState(0);
  const runs = useAsync(async () => core.listRuns(), [core, refresh]);
  const list = runs.status === 'done' ? runs.value : [];
  const [index, setIndex] = useState(0);
  const [inspected, setInspected] = useState<CheckpointDetails | null>(null);
  const [ckpt, setCkpt] = useState(0);
  const [note, setNote] = useState<string | null>(null);
  const [prompting, setPrompting] = useState<'predict' | 'resume' | null>(null);
  const [predictRun, setPredictRun] = useState<Job | null>(null);
  const predict = useRunEvents(predictRun, evalReducer, initialEval);
  useEffect(() => {
    if (select && list.length) setIndex(Math.max(0, list.findIndex((r) => r.dir === select || r.name === select)));
  }, [select, list.length]);
  // Running runs change under us: re-read the list now and then.
  useEffect(() => {
    if (!list.some((r) => r.status === 'running')) return;
    const t = setTimeout(() => setRefresh((n) => n + 1), 3000);
    return () => clearTimeout(t);
  }, [list]);
  const run = list[Math.min(index, list.length - 1)];
  // Remember the selected run so coming back from an action lands on it again.
  const go = (route: Route) => {
    if (run) replace({screen: 'runs', select: run.dir});
    push(route);
  };
  const detail = useAsync(() => (run ? core.readRun(run.dir) : Promise.reject(new Error('no run selected'))), [core, run?.dir, refresh]);
  const moveTo = (i: number) => {
    setIndex(Math.max(0, Math.min(list.length - 1, i)));
    setInspected(null);
    setCkpt(0);
  };
  useKeys(
    {
      up: () => moveTo(index - 1),
      down: () => moveTo(index + 1),
      escape: back,
      R: () => setRefresh((n) => n + 1),
      i: () => {
        if (!run?.checkpoints.length) return setNote('this run has no checkpoint to inspect');
        const path = run.checkpoints[ckpt % run.checkpoints.length];
        setCkpt((k) => k + 1);
        setNote(`inspecting ${path}…`);
        core.inspect(path).then(
          (d) => {
            setInspected(d);
            setNote(null);
          },
          (e: unknown) => setNote(`inspect: ${errorText(e)}`),
        );
      },
      r: () => {
        if (!run) return;
        if (run.status === 'tensorboard') return setNote('a TensorBoard-only folder cannot be resumed');
        if (run.status === 'running') return setNote('this run is still running: press w to watch it');
        setPrompting('resume');
      },
      e: () => {
        if (!run?.checkpoints.length) return setNote('this run has no checkpoint to evaluate');
        go({screen: 'evaluate', runDir: run.dir, start: !run.hasEval, data: run.dataRoot ?? core.defaultData ?? undefined});
      },
      E: () => run?.checkpoints.length && go({screen: 'evaluate', runDir: run.dir, start: true, data: run.dataRoot ?? core.defaultData ?? undefined}),
      w: () => {
        if (!run || run.status === 'tensorboard') return setNote(`only runs with ${CONTRACT.run_folder.events} can be watched`);
        go({screen: 'train', launch: {mode: 'watch', runDir: run.dir}});
      },
      p: () => {
        if (!run?.checkpoints.length) return setNote('this run has no checkpoint to predict with');
        setPrompting('predict');
      },
    },
    {isActive: !prompting},
  );
  // The same changes `heartseg train --resume RUN --epochs 40` takes: the core passes them on, the engine judges.
  const startResume = (text: string) => {
    setPrompting(null);
    if (!run) return;
    const {edits, problems} = parseAssignments(text);
    if (problems.length) return setNote(`resume: ${problems.join('; ')}`);
    go({screen: 'train', launch: {mode: 'resume', runDir: run.dir, edits}});
  };
  const startPredict = (input: string) => {
    setPrompting(null);
    if (!run || !input.trim()) return;
    // Predictions go to their own folder in the runs folder: nothing is written into the run.
    const outDir = `${core.runsDir}/${defaultRunName(`predict-${run.name}`)}`;
    core.predict({model: {kind: 'run', runDir: run.dir}, inputs: [input.trim()], outDir}).then(
      (r) => {
        setPredictRun(r);
        setNote(`predicting into ${outDir}…`);
      },
      (e: unknown) => setNote(`predict: ${errorText(e)}`),
    );
  };
  const body = bodyRows(rows);
  const listW = Math.min(36, Math.floor(columns * 0.42));
  const detailW = columns - listW - 1;
  const footer = (note ? 1 : 0) + (prompting ? 1 : 0) + (predictRun ? 1 : 0);
  const listRows = Math.max(1, body - 1 - footer);
  const first = Math.max(0, Math.min(index - Math.floor(listRows / 2), list.length - listRows));
  const predictLine = predict.end
    ? `predict ${predict.end.status}${predict.end.status === 'completed' ? ` · wrote ${predictRun?.outDir}` : ` · ${predict.error?.text ?? predict.end.reason}`}`
    : predict.stage
      ? `predict ${predict.stage.done}/${predict.stage.total} ${predict.stage.item ?? ''}`
      : 'predict: starting…';
  return (
    <Frame
      title="runs"
      status={`${list.length} in ${core.runsDir}`}
      keys={[['↑↓', 'select'], ['r', 'resume'], ['e', 'evaluate'], ['p', 'predict'], ['w', 'watch'], ['i', 'inspect'], ['R', 'reload'], ['esc', 'back']]}
    >
      <Box height={body - footer}>
        <Box flexDirection="column" width={listW}>
          <Text bold>{fit('  run', listW - 17)} {fit('epochs', 7)} Dice</Text>
          {runs.status === 'loading' ? <Text dimColor>reading…</Text> : null}
          {runs.status === 'error' ? <Text color={c('red')}>{runs.error}</Text> : null}
          {runs.status === 'done' && list.length === 0 ? <Text dimColor>no runs in {core.runsDir}</Text> : null}
          {list.slice(first, first + listRows).map((r, i) => (
            <Text key={r.dir} wrap="truncate" inverse={first + i === index}>
              {first + i === index ? '›' : ' '}{STATUS_MARK[r.status]} {fit(r.name, listW - 19)} {fit(runProgress(r) ?? '', 7)} {r.bestDice != null ? fmtNum(r.bestDice, 3) : ''}
            </Text>
          ))}
        </Box>
        <Box width={1} />
        {run && detail.status === 'done' ? (
          <RunDetailView detail={detail.value} inspected={inspected} width={detailW} height={body - footer} />
        ) : run && detail.status === 'error' ? (
          <Text color={c('red')}>{detail.error}</Text>
        ) : run ? (
          <Text dimColor>reading {run.name}…</Text>
        ) : null}
      </Box>
      {note ? <Text color={c('yellow')} wrap="truncate">{note}</Text> : null}
      {predictRun ? <Text wrap="truncate">{predictLine}</Text> : null}
      {prompting === 'predict' ? <Prompt label="predict which image file or folder?" onSubmit={startPredict} onCancel={() => setPrompting(null)} /> : null}
      {prompting === 'resume' ? <Prompt label="resume; changes (e.g. epochs=40), enter for none:" onSubmit={startResume} onCancel={() => setPrompting(null)} /> : null}
    </Frame>
  );
}
