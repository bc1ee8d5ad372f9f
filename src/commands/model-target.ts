// RUN|CKPT arguments: a run folder (its best.pt, else last.pt) or a checkpoint file.
import {statSync} from 'node:fs';
import path from 'node:path';
import {type Context, existingPath, UsageError} from './common.js';
import {findRun} from './train.js';

export type ModelTarget = {kind: 'run'; runDir: string} | {kind: 'checkpoint'; file: string};

export function modelTarget(ctx: Context, runsDir: string, arg: string | undefined): ModelTarget {
  if (!arg) throw new UsageError('missing RUN or CKPT');
  const found = (() => {
    try {
      return findRun(ctx, runsDir, arg);
    } catch {
      return existingPath(ctx, 'RUN|CKPT', arg);
    }
  })();
  if (statSync(found).isDirectory()) return {kind: 'run', runDir: found};
  return {kind: 'checkpoint', file: path.resolve(found)};
}

/** Engine flags naming the model: --run RUN, or --checkpoint CKPT. */
export function modelArgs(t: ModelTarget): string[] {
  return t.kind === 'run' ? ['--run', t.runDir] : ['--checkpoint', t.file];
}
