// heartseg plan DATA: the engine's proposed config for a dataset and device, with one reason per choice.
import {flatten, formatFieldValue} from '../core/config.js';
import {fmtDuration} from '../core/format.js';
import {CONTRACT} from '../core/generated/contract.js';
import {type CommandSpec, type Context, coreFor, existingPath, expectPositionals, helpText, parseCommand, str, UsageError} from './common.js';

const USAGE = 'heartseg plan DATA [--device auto|cpu|cuda] [--budget-minutes M] [--cache-dir DIR] [--threads N] [--json]';

export const help = helpText({
  usage: [USAGE],
  about: 'Propose a config for a dataset and device (spacing, patch, batch, network width and depth, iterations),\n'
    + 'with a reason per choice and the cost model\'s estimates, timed on this machine (one step of the planned patch\n'
    + 'calibrates a CPU plan). The dataset is checked like `train` checks it: a\n'
    + 'broken dataset is refused (exit 2) with every problem. `heartseg train DATA` starts from this plan.',
  options: [
    '  --device D          plan for auto (CUDA when torch sees one), cpu or cuda (default auto)',
    `  --budget-minutes M  training time to plan for (default: ${CONTRACT.plan_budget_minutes.cpu} on a CPU, ${CONTRACT.plan_budget_minutes.cuda} on a GPU)`,
    '  --cache-dir DIR     preprocessed-case cache to read label sizes from',
    '  --threads N         CPU threads the training will use (train.threads; 0: all): the plan is timed with them',
  ],
  examples: ['heartseg plan ../data/Task02_Heart --device cuda --json'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {device: {type: 'string'}, 'budget-minutes': {type: 'string'}, 'cache-dir': {type: 'string'}, threads: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 1, USAGE);
  const data = existingPath(ctx, 'DATA', p.positionals[0], 'dir');
  const device = str(p, 'device') ?? 'auto';
  if (!['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`--device ${device}: expected auto, cpu or cuda`);
  const budgetText = str(p, 'budget-minutes');
  const budgetMinutes = budgetText === undefined ? undefined : Number(budgetText);
  if (budgetMinutes !== undefined && !(budgetMinutes > 0)) throw new UsageError(`--budget-minutes ${budgetText}: expected a positive number of minutes`);
  const threadsText = str(p, 'threads');
  const threads = threadsText === undefined ? undefined : Number(threadsText);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0)) throw new UsageError(`--threads ${threadsText}: expected 0 or a positive whole number`);
  const plan = await coreFor(ctx, p).plan(data, {device, budgetMinutes, cacheDir: str(p, 'cache-dir'), threads: threads || undefined});
  if (p.globals.json) return ctx.stdout.write(JSON.stringify(plan.raw) + '\n'), 0;
  const flat = flatten(plan.config);
  const width = Math.max(...Object.keys(flat).map(k => k.length));
  ctx.stdout.write(`plan for ${data} on ${plan.device}\n`);
  for (const [key, value] of Object.entries(flat)) ctx.stdout.write(`  ${key.padEnd(width)}  ${formatFieldValue(value).padEnd(16)} ${plan.reasons[key] ?? ''}\n`);
  const e = plan.estimates;
  ctx.stdout.write(`estimates: ${e.step_seconds} s per step, ${e.memory_gb} GB, ${fmtDuration((e.train_minutes ?? 0) * 60)} of training, `
    + `${(e.parameters ?? 0).toLocaleString('en-US')} parameters\n`);
  return 0;
}

export const plan: CommandSpec = {name: 'plan', summary: 'propose a config for a dataset and device', help, run};
