// heartseg watch RUN: follow a run's events.jsonl (e.g. a cluster job) and print the same lines as train.
import {HeadlessReporter} from '../core/headless.js';
import {CONTRACT} from '../core/generated/contract.js';
import {runInfo} from '../core/runs.js';
import {type CommandSpec, type Context, coreFor, expectPositionals, helpText, parseCommand, useColor} from './common.js';

export const help = helpText({
  usage: ['heartseg watch RUN [--follow]'],
  about: `Show a run's progress from its ${CONTRACT.run_folder.events}: everything so far, then live, until the run ends. Works on any\n`
    + 'machine that sees the run folder (a login node watching a cluster job). Ctrl-C (or SIGTERM, e.g. from\n'
    + '`timeout`) stops watching, not the run: it says so ("stopped watching at epoch 12/21; the run is still\n'
    + 'running") and exits 130; --json then has "status": "running" and "watch": "stopped". When the run ends while\n'
    + "watched, the exit code is the run's own (0 completed, 1 failed, 130 interrupted). A cross-validation run\n"
    + `(RUN/${CONTRACT.run_folder.folds}/) is followed fold by fold, a line as each starts and ends, until RUN/${CONTRACT.run_folder.cv}/ is written;\n`
    + 'while no fold trains and some are still to start (a job array waiting in the queue), it says so once and waits.',
  options: ['  --follow            keep watching after the run ends (through requeues and resumes)'],
  examples: ['heartseg watch runs/la-20250101-120000', 'heartseg watch la-20250101-120000 --runs-dir /scratch/me/runs --follow'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {follow: {type: 'boolean'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 1, 'heartseg watch RUN');
  const job = coreFor(ctx, p).watch(p.positionals[0], {follow: p.values.follow === true});
  const reporter = new HeadlessReporter({command: 'run', showDuration: false, out: p.globals.json ? ctx.stderr : ctx.stdout,
    err: ctx.stderr, json: p.globals.json ? ctx.stdout : undefined, color: useColor(ctx, p.globals)});
  const stop = () => job.stop();
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, stop);
  const result = await reporter.follow(job);
  for (const s of signals) process.off(s, stop);
  if (!result.watchStopped) return reporter.finish(result);
  // Watching stopped, not the run: say where it was and whether it is still going.
  const now = runInfo(job.runDir!)?.status ?? 'unknown';
  const at = reporter.epoch ? ` at epoch ${reporter.epoch.epoch}/${reporter.epoch.epochs}` : '';
  const state = now === 'running' ? 'the run is still running' : `the run is ${now}`;
  return reporter.finish(result, {doneText: `stopped watching${at}; ${state}`,
    data: {status: now, watch: 'stopped', epoch: reporter.epoch?.epoch ?? null, epochs: reporter.epoch?.epochs ?? null}});
}

export const watch: CommandSpec = {name: 'watch', summary: "follow a run's progress live (e.g. a cluster job)", help, run};
