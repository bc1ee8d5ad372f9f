// A config from its layers, later winning: defaults < plan < preset < file < user (flags, form edits, DATA), with
// the layer every key came from and the plan's reasons. Problems are the engine's words (configProblems).
import path from 'node:path';
import {ConfigError, configFields, configProblems, defaultConfig, flatten, mergeConfig, parseFieldText, readConfigFile, setKey} from '../config.js';
import {loadPreset} from '../config-flags.js';
import type {ConfigLayers, Configured, Source} from './types.js';

/** Dotted edits ({"train.epochs": 5}) as a nested partial config. */
export function nested(edits: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(edits)) setKey(out, k, v);
  return out;
}

export interface ConfigureOptions {
  /** Where preset NAME's partial config comes from (default: py/heartseg/presets/NAME.json). */
  loadPreset?: (name: string) => Record<string, unknown>;
}

export function configure(layers: ConfigLayers, opts: ConfigureOptions = {}): Configured {
  const problems: string[] = [];
  const parts: Array<[Source, Record<string, unknown>]> = [];
  const take = (source: Source, load: () => Record<string, unknown>) => {
    try {
      parts.push([source, load()]);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
  };
  if (layers.plan) parts.push(['plan', layers.plan.config]);
  if (layers.preset) take('preset', () => (opts.loadPreset ?? loadPreset)(layers.preset!));
  if (layers.file) take('file', () => readConfigFile(layers.file!));
  const user = nested(layers.edits ?? {});
  if (layers.data) setKey(user, 'data.root', path.resolve(layers.data));
  parts.push(['user', user]);

  const base = defaultConfig() as unknown as Record<string, unknown>;
  const sources: Record<string, Source> = Object.fromEntries(Object.keys(flatten(base)).map((k) => [k, 'default' as Source]));
  for (const [source, partial] of parts) for (const key of Object.keys(flatten(partial))) sources[key] = source;
  const config = mergeConfig(base, ...parts.map(([, p]) => p));
  const reasons: Record<string, string> = {};
  for (const [key, reason] of Object.entries(layers.plan?.reasons ?? {})) if (sources[key] === 'plan') reasons[key] = reason;
  if (!problems.length) problems.push(...configProblems(config));
  return {layers, config, sources, reasons, problems};
}

/** The same layers with more edits (later edits win). */
export function withEdits(c: Configured, edits: Record<string, unknown>): Configured {
  return configure({...c.layers, edits: {...(c.layers.edits ?? {}), ...edits}});
}

/** "epochs=40 train.patience=5" (what a person types in the UI) as dotted edits; a name is a config key or its
 * command-line flag, a value is parsed as the flag's would be. */
export function parseAssignments(text: string): {edits: Record<string, unknown>; problems: string[]} {
  const edits: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const at = part.indexOf('=');
    const name = at > 0 ? part.slice(0, at).replace(/^--/, '') : part;
    const field = configFields().find((f) => f.key === name || f.flag === name);
    if (at <= 0 || !field) {
      problems.push(at <= 0 ? `${part}: expected KEY=VALUE` : `unknown config key ${name}`);
      continue;
    }
    const parsed = parseFieldText(field, part.slice(at + 1));
    if (parsed.ok) edits[field.key] = parsed.value;
    else problems.push(parsed.error);
  }
  return {edits, problems};
}
