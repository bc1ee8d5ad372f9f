// The Configure form: cursor, inline editing with validation as you type, presets, save state. Pure.
import {deepMerge, formatFieldValue, getPath, parseFieldText, setPath, type Field} from './schemaFields.js';

/** Problems of a whole config, keyed by dotted field path ("" for the object itself). */
export type Validate = (config: Record<string, unknown>) => Record<string, string>;

export interface FormState {
  fields: Field[];
  config: Record<string, unknown>;
  cursor: number;
  editing: {buffer: string; error: string | null} | null;
  errors: Record<string, string>;
  preset: string | null;
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
  | {type: 'preset'; name: string; config: Record<string, unknown>; defaults: Record<string, unknown>}
  | {type: 'set'; key: string; value: unknown}
  | {type: 'saved'; path: string};

export function initialForm(fields: Field[], config: Record<string, unknown>, validate: Validate): FormState {
  return {fields, config, cursor: 0, editing: null, errors: validate(config), preset: null, dirty: false, savedPath: null};
}

/** The first problem reported for a field, including problems of its list items ("data.patch.1"). */
export function fieldError(errors: Record<string, string>, key: string): string | null {
  if (errors[key]) return errors[key];
  const nested = Object.keys(errors).find((k) => k.startsWith(key + '.'));
  return nested ? errors[nested] : null;
}

function checkBuffer(state: FormState, buffer: string, validate: Validate): string | null {
  const field = state.fields[state.cursor];
  const parsed = parseFieldText(field, buffer);
  if (!parsed.ok) return parsed.error;
  return fieldError(validate(setPath(state.config, field.key, parsed.value)), field.key);
}

function apply(state: FormState, key: string, value: unknown, validate: Validate): FormState {
  const config = setPath(state.config, key, value);
  return {...state, config, errors: validate(config), dirty: true, savedPath: null};
}

export function formReducer(state: FormState, action: FormAction, validate: Validate): FormState {
  const field = state.fields[state.cursor];
  switch (action.type) {
    case 'move': {
      if (state.editing || state.fields.length === 0) return state;
      const cursor = Math.min(state.fields.length - 1, Math.max(0, state.cursor + action.delta));
      return {...state, cursor};
    }
    case 'edit': {
      if (!field) return state;
      if (field.kind === 'boolean') return apply(state, field.key, !getPath(state.config, field.key), validate);
      const buffer = formatFieldValue(getPath(state.config, field.key));
      return {...state, editing: {buffer, error: checkBuffer(state, buffer, validate)}};
    }
    case 'input':
    case 'backspace': {
      if (!state.editing) return state;
      const buffer = action.type === 'input' ? state.editing.buffer + action.text : state.editing.buffer.slice(0, -1);
      return {...state, editing: {buffer, error: checkBuffer(state, buffer, validate)}};
    }
    case 'commit': {
      if (!state.editing) return state;
      const parsed = parseFieldText(field, state.editing.buffer);
      if (!parsed.ok || state.editing.error) return state; // stay in the editor until the value is valid
      return {...apply(state, field.key, parsed.value, validate), editing: null};
    }
    case 'cancel':
      return state.editing ? {...state, editing: null} : state;
    case 'cycle': {
      if (state.editing || !field) return state;
      if (field.kind === 'boolean') return apply(state, field.key, !getPath(state.config, field.key), validate);
      if (field.kind !== 'enum' || !field.options?.length) return state;
      const i = field.options.indexOf(String(getPath(state.config, field.key)));
      const next = field.options[(i + action.delta + field.options.length) % field.options.length];
      return apply(state, field.key, next, validate);
    }
    case 'preset': {
      // A preset starts from the defaults so earlier edits do not leak into it; the data folder is kept.
      const root = getPath(state.config, 'data.root');
      let config = deepMerge(action.defaults, action.config);
      if (root && !getPath(action.config, 'data.root')) config = setPath(config, 'data.root', root);
      return {...state, config, errors: validate(config), editing: null, preset: action.name, dirty: true, savedPath: null};
    }
    case 'set':
      return apply(state, action.key, action.value, validate);
    case 'saved':
      return {...state, dirty: false, savedPath: action.path};
    default:
      return state;
  }
}
