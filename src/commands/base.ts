// The light part of what commands share (errors, global flags): src/cli.tsx loads it at start-up, so it imports
// nothing heavy; the engine, the reporter and Python resolution stay in common.ts, loaded only by commands that use them.
import type {Out} from '../core/headless.js';
import {CONTRACT} from '../core/generated/contract.js';

export interface CommandIO {
  stdout: Out;
  stderr: Out;
}

export interface Context extends CommandIO {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export {UsageError, Failure} from '../core/errors.js';

export type OptionSpec = Record<string, {type: 'string' | 'boolean'; short?: string; multiple?: boolean}>;

export const GLOBAL_OPTIONS: OptionSpec = {
  'runs-dir': {type: 'string'},
  name: {type: 'string'},
  python: {type: 'string'},
  ci: {type: 'boolean'},
  json: {type: 'boolean'},
  help: {type: 'boolean', short: 'h'},
};

export const GLOBAL_HELP = [
  'Global options:',
  '  --runs-dir DIR      where run folders live (default ./runs)',
  '  --name NAME         run name (default <dataset>-<YYYYMMDD-HHMMSS>)',
  '  --python PATH       Python interpreter for the engine (else $HEARTSEG_PYTHON, the setup venv, python3)',
  '  --ci                plain output, no terminal UI (also the default when stdout is not a terminal)',
  '  --json              print one JSON object with the result',
  '  -h, --help          this help',
];

/** What the engine-free commands (info, analyze) write to. */
export interface CommandStreams {
  stdout: {write(text: string): unknown};
  stderr: {write(text: string): unknown};
  isTTY: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** terminal width; default 100 */
  columns?: number;
}

/** The CLI's global flags, accepted and ignored by the commands that run without the engine (info, analyze). */
export const TOLERATED_GLOBALS = GLOBAL_OPTIONS;

export const EXIT_OK = CONTRACT.exit_codes.completed;
export const EXIT_BAD_INPUT = CONTRACT.exit_codes.bad_input;

/** --json keys are snake_case, like the engine's and every other command's: camelCase field names turned over. */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [/^[a-z]+([A-Z][a-z0-9]*)+$/.test(k) ? k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : k, snakeKeys(v)]));
}

/** JSON has no NaN or infinity: write them as null and "inf"/"-inf" like the engine. */
export function jsonNumbers(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? null : value > 0 ? 'inf' : '-inf';
  return value;
}
