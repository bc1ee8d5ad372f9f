// Train: progress with ETA and throughput, live loss/Dice/lr charts, memory, the epoch log; stop, board, evaluate.
import React, {useEffect, useState} from 'react';
import {Box, Text} from 'ink';
import type {Board, Job} from '../../core/api.js';
import {FoldsStrip} from '../components/FoldsStrip.js';
import {Frame, bodyRows} from '../components/Frame.js';
import {LineChart} from '../components/LineChart.js';
import {LogView} from '../components/LogView.js';
import {ProgressBar} from '../components/ProgressBar.js';
import {errorText, useAsync} from '../hooks/useAsync.js';
import {useKeys} from '../hooks/useKeys.js';
import {useRunEvents} from '../hooks/useRunEvents.js';
import {fmtDuration} from '../../core/format.js';
import {fmtCount, fmtMb, fmtNum} from '../state/format.js';
import type {TrainLaunch} from '../state/navReducer.js';
import {epochEtaSeconds, initialTrain, replayTrain, runEtaSeconds, trainReducer, type TrainState} from '../state/trainReducer.js';
import {useColour, useSize} from '../theme.js';
import type {ScreenProps} from './types.js';

export function Train(props: ScreenProps & {launch: TrainLaunch}) {
  const {core, launch} = props;
  // A resumed run shows its earlier epochs too; a watched run replays its whole events.jsonl by itself.
  const history = useAsync(
    () => (launch.mode === 'resume' ? core.readRun(launch.runDir).then((d) => replayTrain(d.events)) : Promise.resolve(initialTrain)),
    [core, launch],
  );
  if (history.status === 'loading') return <Frame title="train" keys={[['esc', 'back']]}><Text>reading the run…</Text></Frame>;
  const initial = history.status === 'done' ? {...history.value, status: 'idle' as const, end: null} : initialTrain;
  return <TrainView {...props} initial={initial} />;
}

function TrainView({core, launch, replace, back, initial}: ScreenProps & {launch: TrainLaunch; initial: TrainState}) {
  const c = useColour();
  const {columns, rows} = useSize();
  const [run, setRun] = useState<Job | null>(null);
  const [startError, setStartError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [board, setBoard] = useState<Board | null>(null);
  const [stopping, setStopping] = useState(false);
  useEffect(() => {
    let live = true;
    const start: Promise<Job> =
      launch.mode === 'new' ? core.train({configured: launch.configured})
        : launch.mode === 'resume' ? core.resume({run: launch.runDir, edits: launch.edits})
          : Promise.resolve().then(() => core.watch(launch.runDir));
    start.then(
      (r) => (live ? setRun(r) : r.stop()),
      (e: unknown) => live && setStartError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [core, launch]);
  const state = useRunEvents(run, trainReducer, initial);
  // a cross-validation's events come from its folds' folders: the run is the job's (the parent)
  const runDir = (state.cv ? run?.runDir : null) ?? state.runDir ?? run?.runDir ?? null;
  const finished = state.end !== null || startError !== null;
  const watching = launch.mode === 'watch';
  useKeys({
    s: () => {
      // One request only: the engine finishes the step and checkpoints; more signals would kill it.
      if (!run || finished || stopping) return;
      setStopping(true);
      run.stop();
      setNote(watching ? 'stopped following the run (the job keeps running)' : 'stopping after this step; the checkpoint is kept…');
    },
    b: () => {
      if (!runDir || board) return;
      setNote('starting TensorBoard…');
      core.board(runDir).then(
        (b) => {
          setBoard(b);
          setNote(null);
        },
        (e: unknown) => setNote(`board: ${errorText(e)}`),
      );
    },
    e: () => {
      if (!finished || !runDir || state.checkpoints.length === 0) return;
      const data = launch.mode === 'new' ? (launch.configured.config as {data?: {root?: string}}).data?.root : undefined;
      replace({screen: 'evaluate', runDir, start: true, data});
    },
    escape: () => (finished || watching ? back() : setNote('training is running: press s to stop it first (the checkpoint is kept)')),
  });

  const body = bodyRows(rows);
  const half = Math.floor(columns / 2);
  // Fixed lines: status, two bars, stats, the charts' title, the lr chart (2); the log gets what is left.
  const foldRows = state.cv ? 1 : 0;
  const logRows = Math.max(2, Math.min(6, body - 16 - foldRows));
  const chartRows = Math.max(3, body - 7 - logRows - foldRows);
  const epochs = state.history.map((r) => r.epoch);
  const firstEpoch = epochs[0] ?? 1;
  const trainLoss = state.history.map((r) => r.trainLoss);
  const valLoss = state.history.map((r) => r.valLoss);
  const valDice = state.history.map((r) => r.valDice);
  const lr = state.history.map((r) => r.lr);
  const statusText = startError
    ? `could not start: ${startError}`
    : state.end?.exitCode === 2 && state.error
      ? `refused: ${state.error.file ? `${state.error.file}: ` : ''}${state.error.text}`
    : state.end
      ? `${state.end.status} (${state.end.reason})${state.end.bestDice != null ? ` · best Dice ${fmtNum(state.end.bestDice)}` : ''}`
      : state.cv && !state.cv.cv && state.cv.folds.every((f) => f.status === 'done')
        ? `every fold trained; evaluating them for the cross-validated metrics…${state.stage ? ` ${state.stage.name} ${state.stage.done}/${state.stage.total}` : ''}`
      : state.stage && state.status === 'running' && state.epoch === 0
        ? `${state.stage.name} ${state.stage.done}/${state.stage.total}${state.stage.item ? ` ${state.stage.item}` : ''}`
        : run
          ? state.status === 'idle' ? watching ? 'waiting for the run’s events…' : 'starting the engine…' : 'training'
          : 'starting…';
  const statusColour = state.end?.status === 'completed' ? 'green' : state.end || startError ? 'red' : 'cyan';
  const rate = state.itersPerS ? `${state.itersPerS.toFixed(state.itersPerS < 10 ? 2 : 0)} it/s${state.voxelsPerS ? ` ${fmtCount(state.voxelsPerS)} vox/s` : ''}` : undefined;
  const mem = state.memory;
  const keys: Array<[string, string]> = finished
    ? [['e', 'evaluate'], ['b', 'board'], ['esc', 'back']]
    : [['s', watching ? 'stop watching' : 'stop (keeps checkpoint)'], ['b', 'board'], ['esc', 'back']];
  return (
    <Frame title={watching ? 'watch' : 'train'} status={runDir ?? ''} keys={keys}>
      <Text wrap="truncate">
        <Text color={c(statusColour)} bold>
          {statusText}
        </Text>
        {state.device ? <Text dimColor> · {state.device}{state.torch ? ` · torch ${state.torch}` : ''}</Text> : null}
        {state.data ? <Text dimColor> · {state.data.train}+{state.data.val} cases · patch {state.data.patch.join('x')}</Text> : null}
        {state.budgetSeconds ? <Text dimColor> · budget {fmtDuration(state.budgetSeconds)}{state.elapsedSeconds !== null ? `, ${fmtDuration(state.elapsedSeconds)} used` : ''}</Text> : null}
      </Text>
      {state.cv ? <FoldsStrip cv={state.cv} /> : null}
      {state.budgetSeconds ? ( // a time budget ends the run, not the epoch cap: the bar is the budget used
        <ProgressBar label="time" done={state.elapsedSeconds ?? 0} total={state.budgetSeconds} width={columns} eta={finished ? 0 : runEtaSeconds(state)}
          count={`${fmtDuration(state.elapsedSeconds ?? 0)}/${fmtDuration(state.budgetSeconds)}`} />
      ) : (
        <ProgressBar label="epoch" done={state.history.at(-1)?.epoch ?? 0} total={state.epochs || 0} width={columns} eta={finished ? 0 : runEtaSeconds(state)} />
      )}
      <ProgressBar label="iter" done={state.iter} total={state.iters} width={columns} eta={finished ? 0 : epochEtaSeconds(state)} rate={rate} colour="blue" />
      <Text wrap="truncate">
        loss {fmtNum(state.loss)} · lr {fmtNum(state.lr, 6)} · best Dice <Text bold color={c('green')}>{fmtNum(state.bestDice)}</Text>
        {' · '}CPU {fmtMb(mem?.cpuMb)}
        {mem?.gpuAllocatedMb != null ? ` · GPU ${fmtMb(mem.gpuAllocatedMb)} (reserved ${fmtMb(mem.gpuReservedMb)})` : ' · GPU -'}
        {state.history.length ? ` · ${fmtDuration(state.history.at(-1)!.seconds)}/epoch` : ''}
      </Text>
      <Box>
        <LineChart
          title="loss"
          width={half}
          height={chartRows}
          xStart={firstEpoch}
          series={[
            {name: 'train', values: trainLoss, colour: 'cyan'},
            {name: 'val', values: valLoss, colour: 'magenta'},
          ]}
        />
        <LineChart title="val Dice" width={columns - half} height={chartRows} xStart={firstEpoch} min={0} max={1} series={[{name: 'Dice', values: valDice, colour: 'green'}]} />
      </Box>
      <LineChart title="lr" width={columns} height={1} xStart={firstEpoch} digits={6} min={0} series={[{name: 'lr', values: lr, colour: 'yellow'}]} />
      {note ? <Text color={c('yellow')} wrap="truncate">{note}</Text> : null}
      {board ? <Text wrap="truncate">TensorBoard: <Text color={c('cyan')}>{board.url}</Text></Text> : null}
      <LogView messages={state.messages} height={logRows - (note ? 1 : 0) - (board ? 1 : 0)} width={columns} />
    </Frame>
  );
}
