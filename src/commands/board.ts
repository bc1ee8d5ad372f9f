// heartseg board [RUN]: TensorBoard on 127.0.0.1 and a free port, until Ctrl-C.
import {boardLogdir, startBoard} from '../core/board.js';
import {type CommandSpec, type Context, expectPositionals, Failure, helpText, parseCommand, python} from './common.js';
import {findRun} from './train.js';

export const help = helpText({
  usage: ['heartseg board [RUN]'],
  about: "Start TensorBoard for one run (its tensorboard/ folder) or for every run in the runs folder, on 127.0.0.1\n"
    + 'and a free port, and print the URL. Ctrl-C stops it. On a cluster, forward the port: ssh -L PORT:127.0.0.1:PORT.',
  examples: ['heartseg board', 'heartseg board runs/la-20250101-120000'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 0, 1, 'heartseg board [RUN]');
  const target = p.positionals[0] ? findRun(ctx, p.globals.runsDir, p.positionals[0]) : p.globals.runsDir;
  const py = await python(ctx, p);
  let board;
  try {
    board = await startBoard(py.path, boardLogdir(target), {env: ctx.env});
  } catch (e) {
    throw new Failure((e as Error).message);
  }
  if (p.globals.json) ctx.stdout.write(JSON.stringify({url: board.url, port: board.port, logdir: board.logdir}) + '\n');
  else ctx.stdout.write(`TensorBoard for ${board.logdir}\n${board.url}\n(Ctrl-C to stop)\n`);
  let stopping = false;
  const stop = () => {
    stopping = true;
    void board.stop();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await board.exited;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (!stopping) ctx.stderr.write(`heartseg board: TensorBoard exited by itself (${code})\n`);
  return stopping ? 0 : 1;
}

export const board: CommandSpec = {name: 'board', summary: 'open TensorBoard for a run or all runs', help, run};
