// heartseg board [RUN]: TensorBoard on 127.0.0.1 and a free port, until Ctrl-C.
import {CONTRACT} from '../core/generated/contract.js';
import {type CommandSpec, type Context, coreFor, expectPositionals, helpText, parseCommand} from './common.js';

export const help = helpText({
  usage: ['heartseg board [RUN]'],
  about: `Start TensorBoard for one run (its ${CONTRACT.run_folder.tensorboard}/ folder) or for every run in the runs folder, on 127.0.0.1\n`
    + 'and a free port, and print the URL. Ctrl-C stops it. On a cluster, forward the port: ssh -L PORT:127.0.0.1:PORT.\n'
    + 'A run without TensorBoard logs is refused (exit 2): there would be nothing to show.',
  examples: ['heartseg board', 'heartseg board runs/la-20250101-120000'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 0, 1, 'heartseg board [RUN]');
  const board = await coreFor(ctx, p).board(p.positionals[0]);
  if (p.globals.json) ctx.stdout.write(JSON.stringify({url: board.url, port: board.port, logdir: board.logdir}) + '\n');
  else ctx.stdout.write(`TensorBoard for ${board.logdir}\n${board.url}\n(Ctrl-C to stop)\n`);
  let stopping = false;
  const stop = () => {
    stopping = true;
    void board.stop();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, stop);
  const code = await board.exited;
  for (const s of signals) process.off(s, stop);
  if (!stopping) ctx.stderr.write(`heartseg board: TensorBoard exited by itself (${code})\n`);
  return stopping ? 0 : 1;
}

export const board: CommandSpec = {name: 'board', summary: 'open TensorBoard for a run or all runs', help, run};
