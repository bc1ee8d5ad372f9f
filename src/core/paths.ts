// Where the package, the engine and the user's data folders are.
import {existsSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

/** The package root (holds package.json); the same from src/core (tests) and dist/core (built). */
export function pkgRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** The folder that goes on PYTHONPATH so `python -m heartseg` finds the engine. */
export function pyRoot(): string {
  return path.join(pkgRoot(), 'py');
}

/** True when the package is a git clone (developers get the dev requirements). */
export function isGitCheckout(): boolean {
  return existsSync(path.join(pkgRoot(), '.git'));
}

/** The venv that `heartseg setup` creates: $HEARTSEG_VENV, else ${XDG_DATA_HOME:-~/.local/share}/heartseg/venv. */
export function venvDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HEARTSEG_VENV) return path.resolve(env.HEARTSEG_VENV);
  const data = env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), '.local', 'share');
  return path.join(data, 'heartseg', 'venv');
}

export function venvPython(dir: string): string {
  return process.platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
}

/** Run names: `<dataset>-<YYYYMMDD-HHMMSS>` in local time. */
export function defaultRunName(dataset: string, when = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${when.getFullYear()}${p(when.getMonth() + 1)}${p(when.getDate())}-${p(when.getHours())}${p(when.getMinutes())}${p(when.getSeconds())}`;
  const base = path.basename(path.resolve(dataset)).replace(/[^\w.-]+/g, '_') || 'run';
  return `${base}-${stamp}`;
}
