// Form fields generated from the config's zod schema (through its JSON Schema), and text <-> value parsing. Pure.
import {z} from 'zod';

export type FieldKind = 'boolean' | 'integer' | 'number' | 'string' | 'enum' | 'list';

export interface Field {
  /** Dotted path, e.g. "data.patch". */
  key: string;
  /** Top-level section ("" for top-level scalars). */
  section: string;
  kind: FieldKind;
  /** Item kind for lists. */
  item?: 'integer' | 'number' | 'string';
  options?: string[];
  nullable: boolean;
  description: string;
  defaultValue: unknown;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  description?: string;
};

function unwrapNullable(s: JsonSchema): {schema: JsonSchema; nullable: boolean} {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    const nonNull = alts.filter((a) => a.type !== 'null');
    if (nonNull.length === 1) return {schema: {...nonNull[0], default: s.default, description: s.description ?? nonNull[0].description}, nullable: nonNull.length < alts.length};
  }
  if (Array.isArray(s.type)) {
    const types = s.type.filter((t) => t !== 'null');
    return {schema: {...s, type: types[0]}, nullable: types.length < s.type.length};
  }
  return {schema: s, nullable: false};
}

function toField(key: string, section: string, raw: JsonSchema): Field | null {
  const {schema, nullable} = unwrapNullable(raw);
  const base = {key, section, nullable, description: schema.description ?? '', defaultValue: schema.default};
  if (schema.enum && schema.enum.every((v) => typeof v === 'string')) {
    return {...base, kind: 'enum', options: schema.enum as string[]};
  }
  switch (schema.type) {
    case 'boolean':
    case 'integer':
    case 'number':
    case 'string':
      return {...base, kind: schema.type};
    case 'array': {
      const item = schema.items?.type;
      if (item === 'integer' || item === 'number' || item === 'string') return {...base, kind: 'list', item};
      return null;
    }
    default:
      return null;
  }
}

function walk(schema: JsonSchema, prefix: string[], out: Field[]): void {
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const path = [...prefix, name];
    if (child.type === 'object' && child.properties) {
      walk(child, path, out);
      continue;
    }
    const field = toField(path.join('.'), prefix[0] ?? '', child);
    if (field) out.push(field);
  }
}

/** Every editable leaf of an object schema, in declaration order. */
export function fieldsFromSchema(schema: z.ZodType): Field[] {
  const json = z.toJSONSchema(schema, {unrepresentable: 'any'}) as JsonSchema;
  const out: Field[] = [];
  walk(json, [], out);
  return out;
}

export type Parsed = {ok: true; value: unknown} | {ok: false; error: string};

function parseScalar(text: string, kind: 'integer' | 'number' | 'string'): Parsed {
  if (kind === 'string') return {ok: true, value: text};
  const t = text.trim();
  if (kind === 'integer') {
    return /^[-+]?\d+$/.test(t) ? {ok: true, value: Number.parseInt(t, 10)} : {ok: false, error: `"${text}" is not an integer`};
  }
  const n = Number(t);
  return t !== '' && Number.isFinite(n) ? {ok: true, value: n} : {ok: false, error: `"${text}" is not a number`};
}

/** Parse what a person typed into a value of the field's type. */
export function parseFieldText(field: Field, text: string): Parsed {
  const t = text.trim();
  if (field.nullable && (t === 'null' || (t === '' && field.kind !== 'string'))) return {ok: true, value: null};
  switch (field.kind) {
    case 'boolean':
      if (/^(true|yes|on|1)$/i.test(t)) return {ok: true, value: true};
      if (/^(false|no|off|0)$/i.test(t)) return {ok: true, value: false};
      return {ok: false, error: `"${text}" is not true or false`};
    case 'enum':
      return field.options?.includes(t) ? {ok: true, value: t} : {ok: false, error: `expected one of ${field.options?.join(', ')}`};
    case 'list': {
      if (t === '') return {ok: true, value: []};
      const values: unknown[] = [];
      for (const part of t.split(/[\s,]+/).filter(Boolean)) {
        const p = parseScalar(part, field.item ?? 'string');
        if (!p.ok) return p;
        values.push(p.value);
      }
      return {ok: true, value: values};
    }
    default:
      return parseScalar(text, field.kind);
  }
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
