// heartseg demo: synthetic data -> analysis -> training (preset demo) -> evaluation, through the core's calls.
import path from 'node:path';
import {flatten} from '../core/config.js';
import {configFlagOptions, flagOverrides} from '../core/config-flags.js';
import {DEMO, demoDataDir, evalDice, hasDataset} from '../core/demo.js';
import {fmtDuration} from '../core/format.js';
import {CONTRACT} from '../core/generated/contract.js';
import {HeadlessReporter} from '../core/headless.js';
import {defaultRunName} from '../core/paths.js';
import type {Job} from '../core/app/types.js';
import {type CommandSpec, type Context, coreFor, expectPositionals, helpText, parseCommand, str, useColor, UsageError} from './common.js';

export const help = helpText({
  usage: ['heartseg demo [options]'],
  about: 'The whole path in a few minutes on a laptop CPU: write a synthetic cardiac-MRI-like dataset into\n'
    + `RUNS_DIR/${DEMO.dataFolder} (reused next time), analyse it, train with the "${DEMO.preset}" preset, evaluate on the\n`
    + 'validation cases, and print where the report is. Training flags (--epochs, --device ...) override the preset.',
  options: ['  (the training flags of `heartseg train --help`)'],
  examples: ['heartseg demo', 'heartseg demo --runs-dir /tmp/runs --epochs 2'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, configFlagOptions(), ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 0, 0, 'heartseg demo');
  const started = Date.now();
  const core = coreFor(ctx, p);
  // With --json the steps talk on stderr and stdout gets one object at the end.
  const out = p.globals.json ? ctx.stderr : ctx.stdout;
  const say = (s: string) => out.write(s + '\n');
  const step = async (label: string, job: Promise<Job>): Promise<number> => {
    const reporter = new HeadlessReporter({command: label, out, err: ctx.stderr, color: useColor(ctx, p.globals)});
    return reporter.finish(await reporter.follow(await job));
  };
  const data = demoDataDir(p.globals.runsDir);
  if (hasDataset(data)) {
    say(`[1/4] synthetic data: reusing ${data}`);
  } else {
    say(`[1/4] synthetic data: writing ${DEMO.cases} cases to ${data}`);
    const code = await step('synth', core.synth({out: data, cases: DEMO.cases, seed: DEMO.seed}));
    if (code !== 0) return code;
  }
  say('[2/4] analysis');
  const report = await core.analyzeDataset(data);
  for (const line of report.summary) say(`  ${line}`);
  for (const problem of report.problems) say(`  problem: ${problem}`);
  const configured = core.configure({data, preset: str(p, 'preset') ?? DEMO.preset,
    file: str(p, 'config'), edits: flatten(flagOverrides(p.values as Record<string, string | boolean | undefined>))});
  if (configured.problems.length) throw new UsageError(configured.problems.join('; '));
  const name = p.globals.name ?? defaultRunName('demo');
  const runDir = path.join(p.globals.runsDir, name);
  say(`[3/4] training ${runDir} (preset ${configured.layers.preset})`);
  const trained = await step('train', core.train({configured, name}));
  if (trained !== 0) return trained;
  say('[4/4] evaluation on the validation cases');
  const evaluated = await step('evaluate', core.evaluate({model: {kind: 'run', runDir}, data}));
  if (evaluated !== 0) return evaluated;
  const dice = evalDice(runDir);
  const seconds = (Date.now() - started) / 1000;
  const reportDir = path.join(runDir, CONTRACT.run_folder.eval);
  if (p.globals.json) {
    ctx.stdout.write(JSON.stringify({command: 'demo', status: 'completed', data, run_dir: runDir, report: reportDir, val_dice: dice, seconds: Math.round(seconds)}) + '\n');
  } else {
    say(`demo done in ${fmtDuration(seconds)}: validation Dice ${dice === null ? '-' : dice.toFixed(4)}; report in ${reportDir}`);
    say(`next: heartseg runs · heartseg board ${runDir} · heartseg inspect ${runDir}`);
  }
  return 0;
}

export const demo: CommandSpec = {name: 'demo', summary: 'synthetic data -> train -> evaluate, in minutes on a CPU', help, run};
