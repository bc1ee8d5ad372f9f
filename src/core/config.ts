// The config as the front uses it, derived from schema/config.schema.json (generated from py/heartseg/config.py):
// defaults, validation with the engine's error texts, the field list, and text -> value parsing for flags and forms.
import {readFileSync} from 'node:fs';
import type {z} from 'zod';
import type {HeartsegConfig} from './generated/config.js';
import {type JsonSchema, deref, loadSchema, resolvePath, zodFor} from './schema.js';

export type {HeartsegConfig} from './generated/config.js';
export type ConfigInput = Record<string, unknown>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** The zod validator of a complete config (what the configure form checks as you type). */
export function configValidator(): z.ZodType {
  return zodFor('config.schema.json');
}

function root(): JsonSchema {
  return loadSchema('config.schema.json');
}

/** The schema of a dotted key ("train.epochs"), undefined when the config has no such key. */
export function fieldSchema(key: string): JsonSchema | undefined {
  return resolvePath(root(), key ? key.split('.') : []);
}

export type FieldKind = 'boolean' | 'integer' | 'number' | 'string' | 'enum' | 'list' | 'mixed';

/** One leaf of the config, with everything the front derives from its schema. */
export interface ConfigField {
  /** Dotted key, e.g. "data.patch". */
  key: string;
  /** Top-level section ("" for top-level scalars). */
  section: string;
  kind: FieldKind;
  /** Allowed values of an enum (or of a list's items). */
  options?: Array<string | number>;
  /** Item kind for lists. */
  item?: 'integer' | 'number' | 'string';
  nullable: boolean;
  description: string;
  defaultValue: unknown;
  /** What a valid value looks like, in the words errors use. */
  expected: string;
  /** The command-line flag that sets it (without dashes) and its placeholder. */
  flag?: string;
  arg?: string;
  /** A --resume may change it. */
  resume: boolean;
  schema: JsonSchema;
}

function kindOf(s: JsonSchema, r: JsonSchema): Pick<ConfigField, 'kind' | 'options' | 'item' | 'nullable'> {
  const alts = (s.anyOf ?? s.oneOf)?.map((a) => deref(a, r));
  if (alts) {
    const nonNull = alts.filter((a) => a.type !== 'null');
    const nullable = nonNull.length < alts.length;
    return nonNull.length === 1 ? {...kindOf(nonNull[0], r), nullable} : {kind: 'mixed', nullable};
  }
  if (s.enum) return {kind: 'enum', options: s.enum as Array<string | number>, nullable: false};
  if (s.type === 'array') {
    const items = s.items ? deref(s.items, r) : {};
    if (items.enum) return {kind: 'list', item: 'string', options: items.enum as string[], nullable: false};
    const t = items.type;
    return {kind: 'list', item: t === 'integer' || t === 'number' ? t : 'string', nullable: false};
  }
  const t = typeof s.type === 'string' ? s.type : 'string';
  return {kind: (['boolean', 'integer', 'number', 'string'].includes(t) ? t : 'mixed') as FieldKind, nullable: false};
}

let fieldsCache: ConfigField[] | undefined;

/** Every leaf of the config in declaration order (the form, the flags and the resume rule come from here). */
export function configFields(): ConfigField[] {
  if (fieldsCache) return fieldsCache;
  const r = root();
  const out: ConfigField[] = [];
  const walk = (node: JsonSchema, prefix: string[]) => {
    for (const [name, raw] of Object.entries(node.properties ?? {})) {
      const s = deref(raw, r);
      if (s.type === 'object' && s.properties) {
        walk(s, [...prefix, name]);
        continue;
      }
      out.push({
        key: [...prefix, name].join('.'), section: prefix[0] ?? '', ...kindOf(s, r),
        description: s.description ?? '', defaultValue: s.default ?? null, expected: s['x-expected'] ?? 'a valid value',
        flag: s['x-flag'], arg: s['x-arg'], resume: s['x-resume'] === true, schema: s,
      });
    }
  };
  walk(deref(r, r), []);
  return (fieldsCache = out);
}

/** The complete default config (what `python -m heartseg config --defaults` prints). */
export function defaultConfig(): HeartsegConfig {
  const out: Record<string, unknown> = {};
  for (const f of configFields()) setKey(out, f.key, structuredClone(f.defaultValue));
  return out as unknown as HeartsegConfig;
}

/** Python's json.dumps spacing, so a message reads the same whichever side wrote it. */
export function pyJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(', ')}}`;
  }
  if (value === undefined) return 'nothing';
  return JSON.stringify(value);
}

function valueAt(input: unknown, parts: readonly string[]): unknown {
  let v: unknown = input;
  for (const p of parts) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** Every problem of a config object, as the engine words them: "KEY: got VALUE, expected TEXT". */
export function configProblems(input: unknown): string[] {
  if (!isPlainObject(input)) return [`config: got ${pyJson(input)}, expected a JSON object`];
  const result = configValidator().safeParse(mergeConfig(defaultConfig() as unknown as Record<string, unknown>, input));
  if (result.success) return [];
  const problems: string[] = [];
  for (const issue of result.error.issues) {
    // list items and union branches report below the key; the key is the deepest path the schema names
    const names = issue.path.filter((p): p is string => typeof p === 'string');
    let line: string;
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(fieldSchema(names.join('.'))?.properties ?? {}).sort();
      line = `unknown config key ${[...names, issue.keys[0]].join('.')} (known: ${known.join(', ')})`;
    } else {
      const spec = fieldSchema(names.join('.'));
      line = `${names.join('.') || 'config'}: got ${pyJson(valueAt(input, names))}, expected ${spec?.['x-expected'] ?? 'a JSON object'}`;
    }
    if (!problems.includes(line)) problems.push(line);
  }
  return problems;
}

/** Validate a (possibly partial) config: the complete config, or every problem. */
export function validateConfig(input: unknown): {ok: true; config: HeartsegConfig} | {ok: false; problems: string[]} {
  const problems = configProblems(input);
  if (problems.length) return {ok: false, problems};
  return {ok: true, config: mergeConfig(defaultConfig() as unknown as Record<string, unknown>, input as Record<string, unknown>) as unknown as HeartsegConfig};
}

/** Deep merge of config objects (later wins; lists replace), as heartseg.config.merge does. */
export function mergeConfig(base: Record<string, unknown>, ...overrides: Record<string, unknown>[]): Record<string, unknown> {
  let out: Record<string, unknown> = {...base};
  for (const override of overrides) {
    const next: Record<string, unknown> = {...out};
    for (const [k, v] of Object.entries(override)) {
      const old = next[k];
      next[k] = isPlainObject(v) && isPlainObject(old) ? mergeConfig(old, v) : v;
    }
    out = next;
  }
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Read a JSON config file (partial allowed); problems are prefixed with the file name. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError([`${file}: config file not found`]);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`${file}: not valid JSON (${(e as Error).message})`]);
  }
  if (!isPlainObject(data)) throw new ConfigError([`${file}: got ${pyJson(data)}, expected a JSON object`]);
  const problems = configProblems(data);
  if (problems.length) throw new ConfigError(problems.map((p) => `${file}: ${p}`));
  return data;
}

/** Set a dotted key ("train.epochs") in a nested partial config (mutates target). */
export function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(node[p])) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

/** The value at a dotted key. */
export function getKey(obj: unknown, key: string): unknown {
  return valueAt(obj, key.split('.'));
}

/** {'train': {'epochs': 3}} -> {'train.epochs': 3}. */
export function flatten(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (isPlainObject(v)) Object.assign(out, flatten(v, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

export type Parsed = {ok: true; value: unknown} | {ok: false; error: string};

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const NULL_WORDS = ['null', 'none', 'auto', 'median'];

/** What a person typed (a flag's value, a form field) as a value of the field's type; one parser for both. */
export function parseFieldText(field: ConfigField, text: string): Parsed {
  const t = text.trim();
  const r = root();
  const alternatives = (field.schema.anyOf ?? field.schema.oneOf ?? [field.schema]).map((a) => deref(a, r));
  const bad: Parsed = {ok: false, error: `${field.key}: got ${pyJson(t)}, expected ${field.expected}`};
  for (const alt of alternatives) {
    if (alt.type === 'null' && (NULL_WORDS.includes(t.toLowerCase()) || t === '')) return {ok: true, value: null};
    if (alt.const !== undefined && String(alt.const) === t) return {ok: true, value: alt.const};
  }
  for (const alt of alternatives) {
    const value = parseAs(alt, t, r);
    if (value !== undefined) return {ok: true, value};
  }
  // not of any type: keep the text so validation names it with the key and what was expected
  return field.kind === 'string' ? {ok: true, value: text} : t === '' ? bad : {ok: true, value: NUMBER.test(t) ? Number(t) : t};
}

function parseAs(s: JsonSchema, t: string, r: JsonSchema): unknown {
  if (s.enum) {
    const hit = s.enum.find((v) => String(v) === t);
    return hit;
  }
  switch (s.type) {
    case 'boolean':
      if (/^(true|yes|on)$/i.test(t)) return true;
      if (/^(false|no|off)$/i.test(t)) return false;
      return undefined;
    case 'integer':
      return /^[-+]?\d+$/.test(t) ? Number.parseInt(t, 10) : undefined;
    case 'number':
      return NUMBER.test(t) ? Number(t) : undefined;
    case 'string':
      return t;
    case 'array': {
      if (t === '' || t.toLowerCase() === 'none') return [];
      const item = s.items ? deref(s.items, r) : {type: 'string'};
      const values = t.split(/[\s,]+/).filter(Boolean).map((part) => parseAs(item, part, r) ?? (NUMBER.test(part) ? Number(part) : part));
      return values;
    }
    default:
      return undefined;
  }
}

/** How a value is shown on a command line or pre-filled in a form. */
export function formatFieldValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return value.length ? value.join(',') : 'none';
  return String(value);
}
