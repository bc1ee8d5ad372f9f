// heartseg runs: a table of the runs folder (status, epochs, best Dice, last change).
import path from 'node:path';
import {listRuns} from '../core/runs.js';
import {type CommandSpec, type Context, expectPositionals, helpText, parseCommand} from './common.js';

export const help = helpText({
  usage: ['heartseg runs [--runs-dir DIR] [--json]'],
  about: 'List the runs in the runs folder: finished, running (its lock is held), interrupted or failed, cross-validation\n'
    + 'runs with folds still to train (incomplete: resume them with heartseg train --resume RUN), and folders that hold\n'
    + 'only TensorBoard logs; with the epochs (or folds) done and the best validation Dice (a finished\n'
    + 'cross-validation run: its cross-validated Dice).',
  examples: ['heartseg runs', 'heartseg runs --runs-dir /scratch/me/runs --json'],
});

function ago(ms: number | null, now: number): string {
  if (ms === null) return '-';
  const s = Math.max(0, (now - ms) / 1000);
  return s < 90 ? `${Math.round(s)}s ago` : s < 5400 ? `${Math.round(s / 60)}m ago` : s < 129600 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`;
}

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 0, 0, 'heartseg runs');
  const runs = listRuns(p.globals.runsDir);
  if (p.globals.json) {
    // snake_case like the engine's events and every other --json answer
    const rows = runs.map(r => ({name: r.name, dir: r.dir, status: r.status, epoch: r.epoch, epochs: r.epochs, best_dice: r.bestDice,
      updated: r.updated === null ? null : new Date(r.updated).toISOString(), data_root: r.dataRoot, checkpoints: r.checkpoints, has_eval: r.hasEval,
      ...(r.cv ? {cv: {folds: r.cv.folds, done: r.cv.done, dice: r.cv.dice, std: r.cv.std}} : {})}));
    return ctx.stdout.write(JSON.stringify({runs_dir: p.globals.runsDir, runs: rows}) + '\n'), 0;
  }
  if (!runs.length) return ctx.stdout.write(`no runs in ${p.globals.runsDir}\n`), 0;
  const now = Date.now();
  const rows = [['NAME', 'STATUS', 'EPOCH', 'BEST DICE', 'UPDATED', 'CHECKPOINTS']].concat(runs.map(r => [
    r.name, r.status, r.cv ? `folds ${r.cv.done}/${r.cv.folds}` : r.epoch === null ? '-' : `${r.epoch}/${r.epochs ?? '?'}`,
    r.cv?.dice != null ? `${r.cv.dice.toFixed(4)} ± ${r.cv.std?.toFixed(4) ?? '-'} (cv)` : r.bestDice === null ? '-' : r.bestDice.toFixed(4),
    ago(r.updated, now), (r.cv && r.checkpoints.length ? `${r.checkpoints.length} ${r.checkpoints.length === 1 ? "fold's" : "folds'"} ${path.basename(r.checkpoints[0])}` : r.checkpoints.map(c => path.basename(c)).join(',')) || '-']));
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)));
  for (const r of rows) ctx.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
  ctx.stdout.write(`(${runs.length} in ${p.globals.runsDir})\n`);
  return 0;
}

export const runs: CommandSpec = {name: 'runs', summary: 'list runs with status, epochs and best Dice', help, run};
