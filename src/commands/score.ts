// heartseg score PRED REF: metrics of existing label maps against references, no model needed.
import path from 'node:path';
import {CONTRACT} from '../core/generated/contract.js';
import {type CommandSpec, type Context, coreFor, existingPath, expectPositionals, helpText, parseCommand, runJob, str} from './common.js';

const RUN = CONTRACT.run_folder;
const USAGE = 'heartseg score PRED REF [--out DIR] [--labels FILE|JSON]';

export const help = helpText({
  usage: [USAGE],
  about: 'Score predicted label maps against reference label maps (two files, or two folders matched by case name):\n'
    + `Dice, IoU, precision, recall, HD95, ASSD and volume differences per case and label, into DIR/${path.basename(RUN.eval_metrics)}\n`
    + `and DIR/${path.basename(RUN.eval_summary)} (named as in a run's ${RUN.eval}/).`,
  options: [
    '  --out DIR           output folder (default RUNS_DIR/score-<YYYYMMDD-HHMMSS>)',
    '  --labels X          dataset.json or a JSON object such as {"1": "left atrium"} naming the labels',
  ],
  examples: ['heartseg score predictions/ ../data/Task02_Heart/labelsTr --out scores/'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {out: {type: 'string'}, labels: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 2, 2, USAGE);
  const pred = existingPath(ctx, 'PRED', p.positionals[0]);
  const ref = existingPath(ctx, 'REF', p.positionals[1]);
  const job = coreFor(ctx, p).score({pred, ref, outDir: str(p, 'out'), labels: str(p, 'labels')});
  return runJob(ctx, p, job, {label: 'score', hint: r => (r.exitCode === 0 && r.paths.outDir ? `metrics: ${r.paths.outDir}` : undefined)});
}

export const score: CommandSpec = {name: 'score', summary: 'score label maps against references', help, run};
