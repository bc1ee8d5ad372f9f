// Form fields generated from the config's zod schema (through its JSON Schema), and text <-> value parsing. Pure.
import type {z} from 'zod';

export type {FieldKind, Parsed} from '../../core/config.js';
import {type ConfigField, configFields, parseFieldText as parseText, type Parsed} from '../../core/config.js';

export type Field = ConfigField;

/** Every editable leaf of the config, in declaration order (derived from the engine's schema). */
export function fieldsFromSchema(_schema?: z.ZodType): Field[] {
  return configFields();
}

/** Parse what a person typed into a value of the field's type (the parser flags use too). */
export function parseFieldText(field: Field, text: string): Parsed {
  return parseText(field, text);
}

/** How a value is shown and pre-filled for editing. */
export function formatFieldValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

export function getPath(obj: unknown, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A copy of `obj` with `key` set; intermediate objects are copied, never mutated. */
export function setPath<T>(obj: T, key: string, value: unknown): T {
  const [head, ...rest] = key.split('.');
  const src = (obj ?? {}) as Record<string, unknown>;
  return {...src, [head]: rest.length ? setPath(src[head], rest.join('.'), value) : value} as T;
}

/** Deep-merge `override` onto `base` (override wins; arrays replace). */
export function deepMerge<T>(base: T, override: unknown): T {
  if (!override || typeof override !== 'object' || Array.isArray(override)) return base;
  const out: Record<string, unknown> = {...(base as Record<string, unknown>)};
  for (const [k, v] of Object.entries(override as Record<string, unknown>)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? deepMerge(b, v) : v;
  }
  return out as T;
}

/** A validator for the form: every problem the schema finds, keyed by dotted path ("data.patch.0"). */
export function schemaValidator(schema: z.ZodType): (config: Record<string, unknown>) => Record<string, string> {
  return (config) => {
    const result = schema.safeParse(config);
    if (result.success) return {};
    const errors: Record<string, string> = {};
    for (const issue of result.error.issues) {
      const key = issue.path.map(String).join('.');
      const message = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.join(', ')}` : `expected ${issue.message}`;
      errors[key] ??= message;
    }
    return errors;
  };
}
