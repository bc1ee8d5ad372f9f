// Command-line overrides of the config: the flag table, value parsing, presets and the final merge.
import {existsSync, readFileSync, readdirSync} from 'node:fs';
import path from 'node:path';
import {ConfigError, type HeartsegConfig, defaultConfig, mergeConfig, readConfigFile, setKey, validateConfig} from './config.js';
import {pyRoot} from './paths.js';

export type FlagKind = 'int' | 'number' | 'string' | 'ints' | 'numbers' | 'spacing';

/** Flags that set one config key each; comma lists for list keys ("--patch 32,64,64"). */
export const CONFIG_FLAGS: ReadonlyArray<{flag: string; arg: string; key: string; kind: FlagKind; help: string}> = [
  {flag: 'epochs', arg: 'N', key: 'train.epochs', kind: 'int', help: 'number of epochs'},
  {flag: 'iters', arg: 'N', key: 'train.iters_per_epoch', kind: 'int', help: 'training steps per epoch'},
  {flag: 'lr', arg: 'X', key: 'optim.lr', kind: 'number', help: 'peak learning rate'},
  {flag: 'patch', arg: 'Z,Y,X', key: 'data.patch', kind: 'ints', help: 'patch size Z,Y,X in voxels'},
  {flag: 'batch', arg: 'N', key: 'data.batch', kind: 'int', help: 'patches per step'},
  {flag: 'features', arg: 'C,C,..', key: 'model.features', kind: 'ints', help: 'channels per level, e.g. 16,32,64,128'},
  {flag: 'spacing', arg: 'Z,Y,X', key: 'data.spacing', kind: 'spacing', help: "voxel spacing Z,Y,X in mm, or 'auto' (median)"},
  {flag: 'val-every', arg: 'N', key: 'train.val_every', kind: 'int', help: 'validate every N epochs'},
  {flag: 'seed', arg: 'N', key: 'train.seed', kind: 'int', help: 'seed for weights, sampling, augmentation'},
  {flag: 'patience', arg: 'N', key: 'train.patience', kind: 'int', help: 'stop after N validations without progress (0: never)'},
  {flag: 'optimizer', arg: 'NAME', key: 'optim.optimizer', kind: 'string', help: 'adamw or sgd'},
  {flag: 'schedule', arg: 'NAME', key: 'optim.schedule', kind: 'string', help: 'poly, cosine, step or constant'},
  {flag: 'workers', arg: 'N', key: 'data.workers', kind: 'int', help: 'data loader worker processes'},
  {flag: 'device', arg: 'DEV', key: 'train.device', kind: 'string', help: 'auto, cpu, cuda or cuda:N'},
  {flag: 'max-cases', arg: 'N', key: 'data.max_cases', kind: 'int', help: 'use at most N cases (0: all)'},
  {flag: 'cache-dir', arg: 'DIR', key: 'data.cache_dir', kind: 'string', help: 'folder for preprocessed cases'},
  {flag: 'threads', arg: 'N', key: 'train.threads', kind: 'int', help: 'CPU threads for torch (0: default)'},
];

/** parseArgs option definitions for the config flags (plus --amp/--no-amp, --preset and --config). */
export function configFlagOptions(): Record<string, {type: 'string' | 'boolean'}> {
  const opts: Record<string, {type: 'string' | 'boolean'}> = {};
  for (const f of CONFIG_FLAGS) opts[f.flag] = {type: 'string'};
  opts['amp'] = {type: 'boolean'};
  opts['no-amp'] = {type: 'boolean'};
  opts['no-plan'] = {type: 'boolean'};
  opts['preset'] = {type: 'string'};
  opts['config'] = {type: 'string'};
  return opts;
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A flag's text as a config value; text that is not a number stays text so validation can name it. */
export function parseFlagValue(kind: FlagKind, text: string): unknown {
  const num = (s: string): unknown => (NUMBER.test(s.trim()) ? Number(s.trim()) : s.trim());
  switch (kind) {
    case 'int':
    case 'number':
      return num(text);
    case 'string':
      return text;
    case 'spacing':
      if (['auto', 'null', 'none', 'median'].includes(text.trim().toLowerCase())) return null;
      return text.split(',').map(num);
    case 'ints':
    case 'numbers':
      return text.split(',').map(num);
  }
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

export interface BuildOptions {
  /** A partial config proposed by `heartseg plan` (the first layer over the defaults). */
  plan?: Record<string, unknown>;
  preset?: string;
  configFile?: string;
  /** Values of the parsed flags, keyed by flag name without dashes. */
  flags: Record<string, string | boolean | undefined>;
  /** Direct key overrides applied last (data.root, name). */
  set?: Record<string, unknown>;
  /** Starting point instead of the defaults (a run's config.json when resuming). */
  base?: Record<string, unknown>;
}

/** Flag values as a nested partial config. */
export function flagOverrides(flags: BuildOptions['flags']): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FLAGS) {
    const v = flags[f.flag];
    if (typeof v === 'string') setKey(out, f.key, parseFlagValue(f.kind, v));
  }
  if (flags['amp'] === true) setKey(out, 'train.amp', true);
  if (flags['no-amp'] === true) setKey(out, 'train.amp', false);
  return out;
}

/** defaults < preset < config file < flags < set; throws ConfigError listing every problem. */
export function buildConfig(opts: BuildOptions): HeartsegConfig {
  const layers: Record<string, unknown>[] = [];
  if (opts.plan) layers.push(opts.plan);
  if (opts.preset) layers.push(loadPreset(opts.preset));
  if (opts.configFile) layers.push(readConfigFile(opts.configFile));
  layers.push(flagOverrides(opts.flags));
  const set: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts.set ?? {})) setKey(set, k, v);
  layers.push(set);
  const base = opts.base ?? (defaultConfig() as unknown as Record<string, unknown>);
  const merged = mergeConfig(base, ...layers);
  const check = validateConfig(merged);
  if (!check.ok) throw new ConfigError(check.problems);
  return check.config;
}

/** Help lines for the config flags, with the defaults. */
export function configFlagHelp(): string[] {
  const d = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  const value = (key: string): string => {
    const [s, k] = key.split('.');
    const v = d[s][k];
    return Array.isArray(v) ? v.join(',') : v === null ? 'auto' : v === '' ? '-' : String(v);
  };
  const lines = CONFIG_FLAGS.map(f => `  --${(f.flag + ' ' + f.arg).padEnd(18)}${f.help} (default ${value(f.key)})`);
  lines.push(`  --amp / --no-amp    mixed precision on CUDA (default ${d.train.amp ? 'on' : 'off'})`);
  lines.push(`  --preset NAME       start from py/heartseg/presets/NAME.json (${listPresets().join(', ') || 'none yet'})`);
  lines.push('  --config FILE       JSON config (partial allowed); flags override it');
  lines.push('  --no-plan           without --preset/--config, start from the plain defaults instead of `heartseg plan`');
  return lines;
}
