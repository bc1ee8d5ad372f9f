// heartseg export RUN|CKPT --out FILE: the model's weights as one file to share (the engine's export command).
import {type CommandSpec, type Context, coreFor, expectPositionals, helpText, parseCommand, runJob, str, UsageError} from './common.js';

const USAGE = 'heartseg export RUN|CKPT --out FILE';

export const help = helpText({
  usage: [USAGE],
  about: "Write a run's model (or a checkpoint's) to FILE: the weights with what is needed to apply them (architecture,\n"
    + 'spacing, labels, inference settings), without the optimiser state. The last line (and --json "files") names FILE.',
  options: ['  --out FILE          the file to write (required)'],
  examples: ['heartseg export runs/la-20250101-120000 --out la-model.pt'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {out: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 1, 1, USAGE);
  const out = str(p, 'out');
  if (!out) throw new UsageError(`missing --out FILE (usage: ${USAGE})`);
  const core = coreFor(ctx, p);
  return runJob(ctx, p, core.export({model: core.modelRef(p.positionals[0]), out}), {label: 'export'});
}

export const exportCommand: CommandSpec = {name: 'export', summary: "write a run's model to one file", help, run};
