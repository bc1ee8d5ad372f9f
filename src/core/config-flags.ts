// Command-line overrides of the config: the flag table, value parsing, presets and the final merge.
import {existsSync, readFileSync, readdirSync} from 'node:fs';
import path from 'node:path';
import {ConfigError, type ConfigField, configFields, defaultConfig, mergeConfig, parseFieldText, readConfigFile, setKey, validateConfig} from './config.js';
import {pyRoot} from './paths.js';
import {CONTRACT} from './generated/contract.js';

/** A command-line flag that sets one config key: every field whose schema names an `x-flag`. */
export interface ConfigFlag {
  flag: string;
  arg: string;
  key: string;
  field: ConfigField;
}

export function configFlags(): ConfigFlag[] {
  return configFields().filter((f) => f.flag).map((f) => ({flag: f.flag!, arg: f.arg ?? 'X', key: f.key, field: f}));
}

/** The flags evaluate, predict and inspect take over what a checkpoint recorded: the contract's apply_keys. */
export function applyFlags(): ConfigFlag[] {
  const keys: readonly string[] = CONTRACT.apply_keys;
  return configFlags().filter((f) => keys.includes(f.key));
}

export function applyFlagOptions(): Record<string, {type: 'string'}> {
  return Object.fromEntries(applyFlags().map((f) => [f.flag, {type: 'string' as const}]));
}

/** The apply flags a person gave (flag -> text), from parsed option values. */
export function applyFlagValues(values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of applyFlags()) if (typeof values[f.flag] === 'string') out[f.flag] = values[f.flag] as string;
  return out;
}

/** The engine arguments for apply flags: passed on as given; the engine parses and checks them. */
export function applyArgs(given: Record<string, string> | undefined): string[] {
  return Object.entries(given ?? {}).flatMap(([flag, text]) => [`--${flag}`, text]);
}

/** Help lines for the apply flags, from the schema's descriptions. */
export function applyHelpLines(): string[] {
  return applyFlags().map((f) => `  --${(f.flag + ' ' + f.arg).padEnd(17)} ${f.key}: ${f.field.description.split(';')[0]} (overrides the checkpoint's)`);
}

/** parseArgs option definitions for the config flags (plus --amp/--no-amp, --preset, --config, --no-plan). */
export function configFlagOptions(): Record<string, {type: 'string' | 'boolean'}> {
  const opts: Record<string, {type: 'string' | 'boolean'}> = {};
  for (const f of configFlags()) opts[f.flag] = {type: 'string'};
  opts['amp'] = {type: 'boolean'};
  opts['no-amp'] = {type: 'boolean'};
  opts['no-plan'] = {type: 'boolean'};
  opts['preset'] = {type: 'string'};
  opts['config'] = {type: 'string'};
  return opts;
}

/** A flag's text as a config value; text of the wrong type stays text so validation names key and expectation. */
export function parseFlagValue(flag: ConfigFlag, text: string): unknown {
  const parsed = parseFieldText(flag.field, text);
  return parsed.ok ? parsed.value : text;
}

/** The preset folder lives with the engine so both sides read the same files. */
export function presetDir(): string {
  return path.join(pyRoot(), 'heartseg', 'presets');
}

export function listPresets(): string[] {
  if (!existsSync(presetDir())) return [];
  return readdirSync(presetDir()).filter(f => f.endsWith('.json')).map(f => f.slice(0, -5)).sort();
}

export function loadPreset(name: string): Record<string, unknown> {
  const file = path.join(presetDir(), `${name}.json`);
  if (!/^[\w.-]+$/.test(name) || !existsSync(file)) {
    const known = listPresets();
    throw new ConfigError([`--preset: no preset named ${JSON.stringify(name)} (known: ${known.join(', ') || 'none'})`]);
  }
  // Presets may carry a "_comment" for people reading the file; the engine drops it too.
  const {_comment: _ignored, ...data} = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const check = validateConfig(data);
  if (!check.ok) throw new ConfigError(check.problems.map(p => `preset ${name}: ${p}`));
  return data;
}

/** Values of the parsed flags, keyed by flag name without dashes. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** Flag values as a nested partial config. */
export function flagOverrides(flags: FlagValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of configFlags()) {
    const v = flags[f.flag];
    if (typeof v === 'string') setKey(out, f.key, parseFlagValue(f, v));
  }
  // --amp/--no-amp predate train.precision: auto (mixed precision where it pays) or fp32
  if (flags['amp'] === true) setKey(out, 'train.precision', 'auto');
  if (flags['no-amp'] === true) setKey(out, 'train.precision', 'fp32');
  return out;
}

/** Help lines for the config flags: each field's description and default, from the schema; `notes` adds a
 * command's own words to a flag's line (keyed by flag name), so a flag is listed once. */
export function configFlagHelp(notes: Record<string, string> = {}): string[] {
  const shown = (v: unknown): string => (Array.isArray(v) ? (v.length ? v.join(',') : 'none') : v === null ? 'auto' : v === '' ? '-' : String(v));
  const lines = configFlags().map((f) => `  --${(f.flag + ' ' + f.arg).padEnd(17)} ${f.field.description} (default ${shown(f.field.defaultValue)})`
    + (notes[f.flag] ? `; ${notes[f.flag]}` : ''));
  lines.push('  --amp / --no-amp    the same as --precision auto / --precision fp32');
  lines.push(`  --preset NAME       start from py/heartseg/presets/NAME.json (${listPresets().join(', ') || 'none yet'})`);
  lines.push('  --config FILE       JSON config (partial allowed); flags override it');
  lines.push('  --no-plan           without --preset/--config, start from the plain defaults instead of `heartseg plan`');
  return lines;
}
