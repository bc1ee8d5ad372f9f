// heartseg demo: synthetic data -> analysis -> training (preset demo) -> evaluation -> where the report is.
import path from 'node:path';
import {configFlagOptions} from '../core/config-flags.js';
import {DEMO, demoDataDir, evalDice, hasDataset} from '../core/demo.js';
import {fmtDuration} from '../core/headless.js';
import {defaultRunName} from '../core/paths.js';
import {analyzeCommand} from './analyze.js';
import {type CommandSpec, type Context, expectPositionals, helpText, parseCommand} from './common.js';
import {evaluate} from './evaluate.js';
import {synth} from './synth.js';
import {train} from './train.js';

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
  // With --json the steps talk on stderr and stdout gets one object at the end.
  const stepCtx: Context = p.globals.json ? {...ctx, stdout: ctx.stderr} : ctx;
  const say = (s: string) => stepCtx.stdout.write(s + '\n');
  const common = ['--runs-dir', p.globals.runsDir, ...(p.globals.python ? ['--python', p.globals.python] : [])];
  const data = demoDataDir(p.globals.runsDir);
  if (hasDataset(data)) {
    say(`[1/4] synthetic data: reusing ${data}`);
  } else {
    say(`[1/4] synthetic data: writing ${DEMO.cases} cases to ${data}`);
    const code = await synth.run([data, '--cases', String(DEMO.cases), '--seed', String(DEMO.seed), ...common], stepCtx);
    if (code !== 0) return code;
  }
  say('[2/4] analysis');
  const analyzed = await analyzeCommand.run([data], stepCtx);
  if (analyzed !== 0) return analyzed;
  const name = p.globals.name ?? defaultRunName('demo');
  const runDir = path.join(p.globals.runsDir, name);
  say(`[3/4] training ${runDir} (preset ${DEMO.preset})`);
  const passFlags = Object.keys(configFlagOptions()).flatMap(k => {
    const v = p.values[k];
    return v === true ? [`--${k}`] : typeof v === 'string' ? [`--${k}`, v] : [];
  });
  const trainArgs = [data, '--name', name, ...common, ...(p.values.preset ? [] : ['--preset', DEMO.preset]), ...passFlags];
  const trained = await train.run(trainArgs, stepCtx);
  if (trained !== 0) return trained;
  say('[4/4] evaluation on the validation cases');
  const evaluated = await evaluate.run([runDir, data, ...common], stepCtx);
  if (evaluated !== 0) return evaluated;
  const dice = evalDice(runDir);
  const seconds = (Date.now() - started) / 1000;
  const report = path.join(runDir, 'eval');
  if (p.globals.json) {
    ctx.stdout.write(JSON.stringify({status: 'completed', data, run_dir: runDir, report, val_dice: dice, seconds: Math.round(seconds)}) + '\n');
  } else {
    say(`demo done in ${fmtDuration(seconds)}: validation Dice ${dice === null ? '-' : dice.toFixed(4)}; report in ${report}`);
    say(`next: heartseg runs · heartseg board ${path.relative(ctx.cwd, runDir) || runDir} · heartseg inspect ${path.join(runDir, 'checkpoints', 'best.pt')}`);
  }
  return 0;
}

export const demo: CommandSpec = {name: 'demo', summary: 'synthetic data -> train -> evaluate, in minutes on a CPU', help, run};
