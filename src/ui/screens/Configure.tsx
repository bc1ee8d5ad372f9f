// Configure: a form generated from the config schema, validated as you type; presets; save; model size; train.
import React, {useMemo, useReducer, useState} from 'react';
import {Box, Text} from 'ink';
import {Frame, bodyRows} from '../components/Frame.js';
import {Prompt} from '../components/Prompt.js';
import {errorText, useAsync} from '../hooks/useAsync.js';
import {useKeys} from '../hooks/useKeys.js';
import {fieldError, formReducer, initialForm, type FormAction, type FormState} from '../state/formReducer.js';
import {fit, fmtBytes, fmtInt} from '../state/format.js';
import {trainingMemory, unetParameters} from '../state/modelSize.js';
import {fieldsFromSchema, formatFieldValue, getPath, schemaValidator, setPath} from '../state/schemaFields.js';
import {useColour, useSize} from '../theme.js';
import type {ScreenProps} from './types.js';

/** Parameter count and memory of the configured network, or why they cannot be computed. */
export function modelSizeLines(config: Record<string, unknown>): string[] {
  const features = getPath(config, 'model.features');
  const inCh = Number(getPath(config, 'model.in_channels'));
  const outRaw = Number(getPath(config, 'model.out_channels'));
  const patch = getPath(config, 'data.patch');
  const batch = Number(getPath(config, 'data.batch'));
  try {
    const shape = {features: features as number[], inChannels: inCh, outChannels: outRaw > 0 ? outRaw : 1};
    const params = unetParameters(shape);
    const mem = trainingMemory(shape, patch as number[], batch);
    return [
      `${fmtInt(params)} parameters${outRaw > 0 ? '' : ' (1 output channel assumed)'}`,
      `training memory ≈ ${fmtBytes(mem.totalBytes)} fp32 (activations ${fmtBytes(mem.activationBytes)} for ${batch} x ${(patch as number[]).join('x')}, weights+Adam ${fmtBytes(mem.parameterBytes)})`,
    ];
  } catch (e) {
    return [`model size: ${errorText(e)}`];
  }
}

export function Configure({core, go, back, root}: ScreenProps & {root?: string}) {
  const c = useColour();
  const {columns, rows} = useSize();
  const fields = useMemo(() => fieldsFromSchema(core.configSchema), [core]);
  const validate = useMemo(() => schemaValidator(core.configSchema), [core]);
  const [form, dispatch] = useReducer(
    (s: FormState, a: FormAction) => formReducer(s, a, validate),
    null,
    () => {
      const defaults = core.defaultConfig();
      const start = root ? setPath(defaults, 'data.root', root) : defaults;
      return initialForm(fields, start, validate);
    },
  );
  const presets = useAsync(() => core.presets(), [core]);
  const [note, setNote] = useState<string | null>(null);
  const [finding, setFinding] = useState(false);
  const presetList = presets.status === 'done' ? presets.value : [];
  const errorCount = Object.keys(form.errors).length;
  const nextPreset = () => {
    if (!presetList.length) return setNote(presets.status === 'error' ? `presets: ${presets.error}` : presets.status === 'loading' ? 'presets are still loading' : 'no presets found');
    const i = presetList.findIndex((p) => p.name === form.preset);
    const p = presetList[(i + 1) % presetList.length];
    dispatch({type: 'preset', name: p.name, config: p.config, defaults: core.defaultConfig()});
    setNote(`preset ${p.name}${p.description ? `: ${p.description}` : ''}`);
  };
  const save = () => {
    if (errorCount) return setNote(`fix ${errorCount} problem(s) before saving`);
    core.saveConfig(form.config).then(
      (path) => {
        dispatch({type: 'saved', path});
        setNote(`saved to ${path}`);
      },
      (e: unknown) => setNote(`save failed: ${errorText(e)}`),
    );
  };
  const train = () => {
    if (errorCount) return setNote(`fix ${errorCount} problem(s) before training`);
    if (!getPath(form.config, 'data.root')) return setNote('set data.root to a dataset folder first');
    go({screen: 'train', launch: {mode: 'new', config: form.config}});
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
          p: nextPreset,
          w: save,
          t: train,
          '/': () => setFinding(true),
          escape: back,
        },
    {isActive: !finding, onText: editing ? (t) => dispatch({type: 'input', text: t}) : undefined},
  );
  const find = (text: string) => {
    setFinding(false);
    const q = text.trim().toLowerCase();
    const i = q ? fields.findIndex((f) => f.key.toLowerCase().includes(q)) : -1;
    if (i < 0) return setNote(q ? `no field matches "${q}"` : null);
    dispatch({type: 'move', delta: i - form.cursor});
  };

  const body = bodyRows(rows);
  const field = fields[form.cursor];
  const sizeLines = modelSizeLines(form.config);
  const infoLines = 2 + sizeLines.length + (note ? 1 : 0) + (finding ? 1 : 0);
  const listRows = Math.max(3, body - infoLines);
  const first = Math.max(0, Math.min(form.cursor - Math.floor(listRows / 2), fields.length - listRows));
  const keyW = Math.min(28, Math.max(18, Math.floor(columns * 0.35)));
  const status = `${form.preset ? `preset ${form.preset} · ` : ''}${errorCount ? `${errorCount} problem(s)` : 'valid'}${form.dirty ? ' · unsaved' : form.savedPath ? ' · saved' : ''}`;
  const currentError = field ? fieldError(form.errors, field.key) : null;
  return (
    <Frame
      title="configure"
      status={status}
      keys={
        editing
          ? [['enter', 'accept'], ['esc', 'cancel'], ['⌫', 'delete']]
          : [['↑↓', 'field'], ['enter', 'edit'], ['←→', 'choice'], ['p', 'preset'], ['/', 'find'], ['w', 'save'], ['t', 'train'], ['esc', 'back']]
      }
    >
      <Box flexDirection="column" height={listRows}>
        {fields.slice(first, first + listRows).map((f, i) => {
          const index = first + i;
          const isCursor = index === form.cursor;
          const err = fieldError(form.errors, f.key);
          const value = isCursor && form.editing ? form.editing.buffer : formatFieldValue(getPath(form.config, f.key));
          const changed = JSON.stringify(getPath(form.config, f.key)) !== JSON.stringify(f.defaultValue);
          return (
            <Text key={f.key} wrap="truncate" inverse={isCursor && !editing}>
              <Text color={err ? c('red') : changed ? c('yellow') : undefined}>{fit(f.key, keyW)}</Text> {isCursor && editing ? <Text underline>{value}▏</Text> : value}
              {f.kind === 'enum' && isCursor && !editing ? <Text dimColor> ({f.options?.join('|')})</Text> : null}
              {err && !(isCursor && editing) ? <Text color={c('red')}> ✗</Text> : null}
            </Text>
          );
        })}
      </Box>
      <Text wrap="truncate" color={form.editing?.error || currentError ? c('red') : undefined}>
        {form.editing?.error ? `✗ ${form.editing.error}` : currentError ? `✗ ${field.key}: ${currentError}` : field ? <Text dimColor>{field.description}</Text> : ''}
      </Text>
      <Text wrap="truncate" dimColor>
        {presetList.length ? `presets: ${presetList.map((p) => p.name).join(', ')}` : ''}
      </Text>
      {sizeLines.map((l) => (
        <Text key={l} wrap="truncate" color={c('cyan')}>
          {l}
        </Text>
      ))}
      {note ? <Text wrap="truncate" color={c('yellow')}>{note}</Text> : null}
      {finding ? <Prompt label="find field:" onSubmit={find} onCancel={() => setFinding(false)} /> : null}
    </Frame>
  );
}
