// The Configure form: the core's layered config (plan < preset < file < edits) with a cursor, inline editing and
// validation as you type in the engine's words. Pure: the core's `configure` is passed in.
import type {ConfigField} from '../../core/config.js';
import {formatFieldValue, getKey, parseFieldText} from '../../core/config.js';
import type {ConfigLayers, Configured, Plan} from '../../core/app/types.js';

export type Configure = (layers: ConfigLayers) => Configured;

export interface FormState {
  fields: ConfigField[];
  configured: Configured;
  /** The plan, kept while a preset replaces it (choosing "plan" again brings it back). */
  plan: Plan | null;
  /** 'set': only the values a layer set (plan, preset, file, you) and the dataset; 'all': every field. */
  view: 'set' | 'all';
  /** Index into visibleFields(state). */
  cursor: number;
  editing: {buffer: string; error: string | null} | null;
  dirty: boolean;
  savedPath: string | null;
}

export type FormAction =
  | {type: 'move'; delta: number}
  | {type: 'edit'}
  | {type: 'input'; text: string}
  | {type: 'backspace'}
  | {type: 'commit'}
  | {type: 'cancel'}
  | {type: 'cycle'; delta: number}
  /** A preset name, or null for the plan (as on the command line, a preset replaces the plan). */
  | {type: 'preset'; name: string | null}
  | {type: 'plan'; plan: Plan | null}
  | {type: 'set'; key: string; value: unknown}
  | {type: 'view'; view: 'set' | 'all'}
  /** Show every field and put the cursor on this key. */
  | {type: 'goto'; key: string}
  | {type: 'saved'; path: string};

export function initialForm(fields: ConfigField[], layers: ConfigLayers, configure: Configure, view: 'set' | 'all' = 'all'): FormState {
  return {fields, configured: configure(layers), plan: layers.plan ?? null, view, cursor: 0, editing: null, dirty: false, savedPath: null};
}

/** The fields the form shows now. */
export function visibleFields(state: Pick<FormState, 'fields' | 'view' | 'configured'>): ConfigField[] {
  if (state.view === 'all') return state.fields;
  return state.fields.filter((f) => f.key === 'data.root' || (state.configured.sources[f.key] ?? 'default') !== 'default');
}

function clamp(state: FormState): FormState {
  const n = visibleFields(state).length;
  return state.cursor >= n ? {...state, cursor: Math.max(0, n - 1)} : state;
}

/** Problems keyed by the field they name ("data.patch: got ..." -> data.patch); others under "". */
export function fieldErrors(problems: string[], fields: ConfigField[]): Record<string, string> {
  const keys = fields.map((f) => f.key).sort((a, b) => b.length - a.length);
  const out: Record<string, string> = {};
  for (const p of problems) {
    const key = keys.find((k) => p.startsWith(`${k}:`) || p.startsWith(`unknown config key ${k}`)) ?? '';
    out[key] ??= p;
  }
  return out;
}

export function errorOf(state: FormState, key: string): string | null {
  return fieldErrors(state.configured.problems, state.fields)[key] ?? null;
}

function withEdit(state: FormState, key: string, value: unknown, configure: Configure): Configured {
  const layers = state.configured.layers;
  return configure({...layers, edits: {...(layers.edits ?? {}), [key]: value}});
}

/** What the editor shows under the buffer: the problem this value would have, in the engine's words. */
function checkBuffer(state: FormState, buffer: string, configure: Configure): string | null {
  const field = visibleFields(state)[state.cursor];
  const parsed = parseFieldText(field, buffer);
  if (!parsed.ok) return parsed.error;
  return fieldErrors(withEdit(state, field.key, parsed.value, configure).problems, state.fields)[field.key] ?? null;
}

function apply(state: FormState, key: string, value: unknown, configure: Configure): FormState {
  return {...state, configured: withEdit(state, key, value, configure), dirty: true, savedPath: null};
}

export function formReducer(state: FormState, action: FormAction, configure: Configure): FormState {
  return clamp(reduce(state, action, configure));
}

function reduce(state: FormState, action: FormAction, configure: Configure): FormState {
  const shown = visibleFields(state);
  const field = shown[state.cursor];
  const value = (key: string) => getKey(state.configured.config, key);
  switch (action.type) {
    case 'move': {
      if (state.editing || shown.length === 0) return state;
      return {...state, cursor: Math.min(shown.length - 1, Math.max(0, state.cursor + action.delta))};
    }
    case 'edit': {
      if (!field) return state;
      if (field.kind === 'boolean') return apply(state, field.key, !value(field.key), configure);
      const buffer = formatFieldValue(value(field.key));
      return {...state, editing: {buffer, error: checkBuffer(state, buffer, configure)}};
    }
    case 'input':
    case 'backspace': {
      if (!state.editing) return state;
      const buffer = action.type === 'input' ? state.editing.buffer + action.text : state.editing.buffer.slice(0, -1);
      return {...state, editing: {buffer, error: checkBuffer(state, buffer, configure)}};
    }
    case 'commit': {
      if (!state.editing) return state;
      const parsed = parseFieldText(field, state.editing.buffer);
      if (!parsed.ok || state.editing.error) return state; // stay in the editor until the value is valid
      return {...apply(state, field.key, parsed.value, configure), editing: null};
    }
    case 'cancel':
      return state.editing ? {...state, editing: null} : state;
    case 'cycle': {
      if (state.editing || !field) return state;
      if (field.kind === 'boolean') return apply(state, field.key, !value(field.key), configure);
      if (field.kind !== 'enum' || !field.options?.length) return state;
      const i = field.options.findIndex((o) => String(o) === String(value(field.key)));
      const next = field.options[(i + action.delta + field.options.length) % field.options.length];
      return apply(state, field.key, next, configure);
    }
    case 'preset': {
      const layers = state.configured.layers;
      const configured = configure({...layers, preset: action.name, plan: action.name ? null : state.plan});
      return {...state, configured, editing: null, dirty: true, savedPath: null};
    }
    case 'plan': {
      const layers = state.configured.layers;
      if (layers.preset) return {...state, plan: action.plan};
      return {...state, plan: action.plan, configured: configure({...layers, plan: action.plan})};
    }
    case 'set':
      return apply(state, action.key, action.value, configure);
    case 'view': {
      if (state.editing || state.view === action.view) return state;
      const key = field?.key;
      const next = {...state, view: action.view};
      const at = key ? visibleFields(next).findIndex((f) => f.key === key) : -1;
      return {...next, cursor: Math.max(0, at)};
    }
    case 'goto': {
      if (state.editing) return state;
      const at = state.fields.findIndex((f) => f.key === action.key);
      return at < 0 ? state : {...state, view: 'all', cursor: at};
    }
    case 'saved':
      return {...state, dirty: false, savedPath: action.path};
    default:
      return state;
  }
}
