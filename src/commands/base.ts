// The light part of what commands share (errors, global flags): src/cli.tsx loads it at start-up, so it imports
// nothing heavy; the engine, the reporter and Python resolution stay in common.ts, loaded only by commands that use them.
import type {Out} from '../core/headless.js';

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
