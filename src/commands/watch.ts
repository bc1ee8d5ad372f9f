// heartseg watch RUN: follow a run's events.jsonl (e.g. a cluster job) and print the same lines as train.
import {existsSync} from 'node:fs';
import path from 'node:path';
import type {EngineResult} from '../core/engine.js';
import {HeadlessReporter} from '../core/headless.js';
import {RunWatcher} from '../core/watch.js';
import {type CommandSpec, type Context, expectPositionals, helpText, parseCommand, useColor, UsageError} from './common.js';
import {findRun} from './train.js';

export const help = helpText({
  usage: ['heartseg watch RUN [--follow]'],
  about: "Show a run's progress from its events.jsonl: everything so far, then live, until the run ends. Works on any\n"
    + 'machine that sees the run folder (a login node watching a cluster job). Ctrl-C stops watching, not the run.',
  options: ['  --follow            keep watching after the run ends (through requeues and resumes)'],
  examples: ['heartseg watch runs/la-20250101-120000', 'heartseg watch la-20250101-120000 --runs-dir /scratch/me/runs --follow'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {follow: {type: 'boolean'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 1, 'heartseg watch RUN');
  const runDir = findRun(ctx, p.globals.runsDir, p.positionals[0]);
  if (!existsSync(path.join(runDir, 'events.jsonl')) && !existsSync(path.join(runDir, 'config.json'))) {
    throw new UsageError(`${p.positionals[0]}: no events.jsonl yet; is this a heartseg run folder?`);
  }
  const reporter = new HeadlessReporter({command: 'run', showDuration: false, out: p.globals.json ? ctx.stderr : ctx.stdout,
    json: p.globals.json ? ctx.stdout : undefined, color: useColor(ctx, p.globals)});
  const watcher = new RunWatcher(runDir, {follow: p.values.follow === true});
  let lastEnd: EngineResult['runEnd'];
  watcher.on('event', e => {
    if (e.type === 'run_end') lastEnd = e;
    reporter.onEvent(e);
  });
  const stop = () => watcher.stop();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await watcher.done;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  const stopped = code === 130 && lastEnd?.status !== 'interrupted';
  const result: EngineResult = {exitCode: stopped ? 0 : code, status: stopped ? 'completed' : (lastEnd?.status === 'completed'
    ? 'completed' : lastEnd?.status === 'interrupted' ? 'interrupted' : 'failed'), rawExitCode: code, signal: null,
    runEnd: lastEnd, errors: [], invalidLines: 0, stderrTail: lastEnd ? [`heartseg: ${lastEnd.reason}`] : []};
  reporter.finish(result, {runDir, hint: stopped ? 'stopped watching; the run goes on' : undefined});
  // Watching is done either way; report the run's own outcome only when it ended while we watched.
  return stopped ? 0 : code;
}

export const watch: CommandSpec = {name: 'watch', summary: "follow a run's progress live (e.g. a cluster job)", help, run};
