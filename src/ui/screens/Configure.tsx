// Configure: the core's layered config for a dataset: the engine's plan first (each value marked with where it came
// from and why), presets, edits validated as you type in the engine's words, the engine's cost estimate; t trains it.
import React, {useEffect, useMemo, useReducer, useState} from 'react';
import {Box, Text} from 'ink';
import {configFields, formatFieldValue, getKey} from '../../core/config.js';
import {fmtDuration, fmtValue} from '../../core/format.js';
import type {Estimate} from '../../core/app/types.js';
import {Frame, bodyRows} from '../components/Frame.js';
import {Prompt} from '../components/Prompt.js';
import {errorText} from '../hooks/useAsync.js';
import {useKeys} from '../hooks/useKeys.js';
import {fieldErrors, formReducer, initialForm, visibleFields, type FormAction, type FormState} from '../state/formReducer.js';
import {fit, fmtInt} from '../state/format.js';
import {useColour, useSize} from '../theme.js';
import type {ScreenProps} from './types.js';

/** Wait this long after the last change before asking the engine for an estimate. */
export const ESTIMATE_DEBOUNCE_MS = 400;

/** The estimate as one line, or why there is none. */
export function estimateLine(e: Estimate | null, pending: boolean, error: string | null): string {
  if (error) return `estimate: ${error}`;
  if (!e) return pending ? 'estimating…' : '';
  if (e.parameters === null) return `estimate: ${e.problems[0] ?? 'none'}`;
  const parts = [`${fmtInt(e.parameters)} parameters`, e.memory_gb !== null ? `${fmtValue(e.memory_gb, 2)} GB per step` : null,
    e.step_seconds !== null ? `${fmtValue(e.step_seconds, 2)} s/step` : null,
    e.total_minutes !== null ? `${fmtDuration(e.total_minutes * 60)} in total` : null].filter(Boolean);
  return `estimate${pending ? ' (updating)' : ''}: ${parts.join(' · ')}${e.device ? ` (${e.device})` : ''}`;
}

export function Configure({core, go, back, root}: ScreenProps & {root?: string}) {
  const c = useColour();
  const {columns, rows} = useSize();
  const fields = useMemo(() => configFields(), []);
  const configure = core.configure;
  const [form, dispatch] = useReducer(
    (s: FormState, a: FormAction) => formReducer(s, a, configure),
    null,
    () => initialForm(fields, {data: root}, configure, root ? 'set' : 'all'),
  );
  const presets = useMemo(() => {
    try {
      return core.presets();
    } catch {
      return [];
    }
  }, [core]);
  const [planning, setPlanning] = useState<'idle' | 'running' | 'done' | 'failed'>(root ? 'running' : 'idle');
  const [note, setNote] = useState<string | null>(null);
  const [finding, setFinding] = useState(false);
  // The engine's plan for this dataset and device, as `heartseg train DATA` starts from.
  useEffect(() => {
    if (!root) return;
    const abort = new AbortController();
    core.plan(root, {device: 'auto', signal: abort.signal}).then(
      (plan) => {
        if (abort.signal.aborted) return;
        dispatch({type: 'plan', plan});
        setPlanning('done');
      },
      (e: unknown) => {
        if (abort.signal.aborted) return;
        setPlanning('failed');
        const why = errorText(e).replace(/^plan: unavailable \((.*)\)$/s, '$1');
        setNote(`plan unavailable: ${why}; starting from the defaults`);
      },
    );
    return () => abort.abort();
  }, [core, root]);
  // The engine's estimate of what is configured now: asked after a pause, an older question dropped.
  // Each answer remembers the config it is for: until the shown config's own answer is in, it reads "updating".
  const [answer, setAnswer] = useState<{value: Estimate | null; error: string | null; for: string | null}>({value: null, error: null, for: null});
  const configJson = JSON.stringify(form.configured.config);
  const presetChosen = Boolean(form.configured.layers.preset);
  const estimate = {...answer, pending: answer.for !== configJson};
  useEffect(() => {
    // The plan replaces most of the config: estimate what it proposes, not the defaults (a preset needs no plan).
    if (planning === 'running' && !presetChosen) return;
    const abort = new AbortController();
    const timer = setTimeout(() => {
      core.estimate(JSON.parse(configJson) as Record<string, unknown>, {signal: abort.signal}).then(
        (value) => !abort.signal.aborted && setAnswer({value, error: null, for: configJson}),
        (e: unknown) => !abort.signal.aborted && setAnswer({value: null, error: errorText(e), for: configJson}),
      );
    }, ESTIMATE_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [core, configJson, planning, presetChosen]);

  // The config's own checks, and the engine's whole-config ones (e.g. the patch against the depth) from the estimate.
  const problems = [...form.configured.problems, ...(estimate.value?.problems ?? []).filter((p) => !form.configured.problems.includes(p))];
  const errors = fieldErrors(problems, fields);
  const layers = form.configured.layers;
  const choices = [null, ...presets.map((p) => p.name)];
  const nextPreset = () => {
    const i = choices.indexOf(layers.preset ?? null);
    const name = choices[(i + 1) % choices.length];
    dispatch({type: 'preset', name});
    const p = presets.find((x) => x.name === name);
    setNote(name ? `preset ${name}${p?.description ? `: ${p.description}` : ''}` : form.plan ? 'the plan for this dataset' : 'the defaults');
  };
  const save = () => {
    if (problems.length) return setNote(`fix ${problems.length} problem(s) before saving`);
    core.saveConfig(form.configured.config).then(
      (path) => {
        dispatch({type: 'saved', path});
        setNote(`saved to ${path}`);
      },
      (e: unknown) => setNote(`save failed: ${errorText(e)}`),
    );
  };
  // t while the plan or the engine's check is still coming: remembered, and training starts once they are in.
  const [trainAsked, setTrainAsked] = useState<{config: string; duringPlan: boolean} | null>(null);
  const waiting = (planning === 'running' && !presetChosen) || estimate.pending;
  const train = () => {
    if (!waiting && problems.length) return setNote(`fix ${problems.length} problem(s) before training: ${problems[0]}`);
    if (!getKey(form.configured.config, 'data.root')) return setNote('set data.root to a dataset folder first');
    if (waiting) {
      const duringPlan = planning === 'running' && !presetChosen;
      setTrainAsked({config: configJson, duringPlan});
      return setNote(duringPlan ? 'still planning: training starts when the plan is in'
        : 'checking the config with the engine: training starts when it answers');
    }
    go({screen: 'train', launch: {mode: 'new', configured: form.configured}});
  };
  useEffect(() => {
    if (trainAsked === null || waiting) return;
    setTrainAsked(null);
    // What was shown when t was pressed (or what the plan made of it): an edit since then cancels the request.
    if (trainAsked.config !== configJson && !trainAsked.duringPlan) return setNote('the config changed: press t again to train it');
    train();
  }, [trainAsked, waiting]); // eslint-disable-line react-hooks/exhaustive-deps
  // esc with edits neither saved nor trained asks once: leaving drops them
  const [leaveAsked, setLeaveAsked] = useState(false);
  useEffect(() => setLeaveAsked(false), [configJson]);
  const leave = () => {
    if (!form.dirty || leaveAsked) return back();
    setLeaveAsked(true);
    setNote('the edits are not saved: esc again leaves without them (w saves, t trains)');
  };
  const editing = form.editing !== null;
  useKeys(
    editing
      ? {enter: () => dispatch({type: 'commit'}), escape: () => dispatch({type: 'cancel'}), backspace: () => dispatch({type: 'backspace'})}
      : {
          up: () => dispatch({type: 'move', delta: -1}),
          down: () => dispatch({type: 'move', delta: 1}),
          pageup: () => dispatch({type: 'move', delta: -10}),
          pagedown: () => dispatch({type: 'move', delta: 10}),
          enter: () => dispatch({type: 'edit'}),
          space: () => dispatch({type: 'cycle', delta: 1}),
          left: () => dispatch({type: 'cycle', delta: -1}),
          right: () => dispatch({type: 'cycle', delta: 1}),
          a: () => dispatch({type: 'view', view: form.view === 'all' ? 'set' : 'all'}),
          p: nextPreset,
          w: save,
          t: train,
          '/': () => setFinding(true),
          escape: leave,
        },
    {isActive: !finding, onText: editing ? (t) => dispatch({type: 'input', text: t}) : undefined},
  );
  const find = (text: string) => {
    setFinding(false);
    const q = text.trim().toLowerCase();
    const hit = q ? fields.find((f) => f.key.toLowerCase().includes(q)) : undefined;
    if (!hit) return setNote(q ? `no field matches "${q}"` : null);
    dispatch({type: 'goto', key: hit.key});
  };

  const shown = visibleFields(form);
  const field = shown[form.cursor];
  const body = bodyRows(rows);
  const estimateText = estimateLine(estimate.value, estimate.pending, estimate.error);
  const infoLines = 3 + (note ? 1 : 0) + (finding ? 1 : 0);
  const listRows = Math.max(3, body - infoLines);
  const first = Math.max(0, Math.min(form.cursor - Math.floor(listRows / 2), shown.length - listRows));
  const keyW = Math.min(28, Math.max(18, Math.floor(columns * 0.3)));
  const valueW = Math.max(12, Math.min(20, columns - keyW - 10));
  const origin = layers.preset ? `preset ${layers.preset}` : form.plan ? `plan (${form.plan.device})` : planning === 'running' ? 'planning…' : 'defaults';
  const status = `${origin} · ${problems.length ? `${problems.length} problem(s)` : 'valid'}${form.dirty ? ' · edited' : ''}${form.savedPath ? ' · saved' : ''}`;
  const currentError = field ? errors[field.key] ?? null : null;
  const source = field ? form.configured.sources[field.key] ?? 'default' : 'default';
  const reason = field ? form.configured.reasons[field.key] : undefined;
  const about = form.editing?.error ? `✗ ${form.editing.error}` : currentError ? `✗ ${currentError}`
    : field ? (reason ? `plan: ${reason}` : `${field.description}${source !== 'default' ? ` (set by ${source})` : ''}`) : '';
  const sourceColour: Record<string, string | undefined> = {plan: 'cyan', preset: 'magenta', file: 'blue', user: 'yellow'};
  return (
    <Frame
      title="configure"
      status={status}
      keys={
        editing
          ? [['enter', 'accept'], ['esc', 'cancel'], ['⌫', 'delete']]
          : [['↑↓', 'field'], ['enter', 'edit'], ['p', 'preset'], ['a', form.view === 'all' ? 'set only' : 'all'], ['/', 'find'], ['w', 'save'], ['t', 'train'], ['esc', 'back']]
      }
    >
      <Box flexDirection="column" height={listRows}>
        {planning === 'running' && shown.length <= 1 ? <Text dimColor>asking the engine for a plan for {root}…</Text> : null}
        {shown.slice(first, first + listRows).map((f, i) => {
          const index = first + i;
          const isCursor = index === form.cursor;
          const err = errors[f.key];
          const from = form.configured.sources[f.key] ?? 'default';
          const text = isCursor && form.editing ? form.editing.buffer : formatFieldValue(getKey(form.configured.config, f.key));
          return (
            <Text key={f.key} wrap="truncate" inverse={isCursor && !editing}>
              <Text color={err ? c('red') : undefined}>{fit(f.key, keyW)}</Text> {isCursor && editing ? <Text underline>{text}▏</Text> : fit(text, valueW)}
              {!(isCursor && editing) && from !== 'default' ? <Text color={c(sourceColour[from] ?? 'white')}> {from}</Text> : null}
              {!(isCursor && editing) && form.configured.reasons[f.key] ? <Text dimColor>: {form.configured.reasons[f.key]}</Text> : null}
              {f.kind === 'enum' && isCursor && !editing ? <Text dimColor> ({f.options?.join('|')})</Text> : null}
              {err && !(isCursor && editing) ? <Text color={c('red')}> ✗</Text> : null}
            </Text>
          );
        })}
      </Box>
      <Text wrap="truncate" color={form.editing?.error || currentError ? c('red') : undefined} dimColor={!form.editing?.error && !currentError && !reason}>
        {about}
      </Text>
      <Text wrap="truncate" dimColor>
        {`presets: ${choices.map((n) => (n ?? 'plan') === (layers.preset ?? 'plan') ? `[${n ?? 'plan'}]` : n ?? 'plan').join(' ')}${problems.length && !currentError ? ` · ✗ ${problems[0]}` : ''}`}
      </Text>
      <Text wrap="truncate" color={c(estimate.error ? 'red' : 'cyan')}>
        {estimateText}
      </Text>
      {note ? <Text wrap="truncate" color={c('yellow')}>{note}</Text> : null}
      {finding ? <Prompt label="find field:" onSubmit={find} onCancel={() => setFinding(false)} /> : null}
    </Frame>
  );
}
