// Engine commands whose flags the engine defines (plan): arguments go through unchanged.
import {type CommandSpec, type Context, GLOBAL_OPTIONS, helpText, python, runEngine, type Parsed} from './common.js';
import {askProcess} from '../core/pythonia.js';
import path from 'node:path';

/** Split our global flags off; everything else belongs to the engine. */
function split(argv: string[], ctx: Context): {engineArgs: string[]; parsed: Parsed} {
  const engineArgs: string[] = [];
  const values: Parsed['values'] = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') ? a.slice(2).split(/=(.*)/s) : [undefined, undefined];
    const spec = flag && ['runs-dir', 'name', 'python', 'ci'].includes(flag) ? GLOBAL_OPTIONS[flag] : undefined;
    if (!spec) {
      engineArgs.push(a);
      continue;
    }
    values[flag!] = spec.type === 'boolean' ? true : inline ?? argv[++i];
  }
  const json = argv.includes('--json');
  return {engineArgs, parsed: {values, positionals: [], help: false, globals: {
    runsDir: path.resolve(ctx.cwd, (values['runs-dir'] as string) ?? 'runs'), name: values.name as string | undefined,
    python: values.python as string | undefined, ci: values.ci === true, json}}};
}

function passthrough(name: string, summary: string, about: string, example: string): CommandSpec {
  const help = helpText({usage: [`heartseg ${name} [engine options]`], about, examples: [example]});
  return {
    name, summary, help,
    async run(argv, ctx) {
      const {engineArgs, parsed} = split(argv, ctx);
      if (engineArgs.includes('--help') || engineArgs.includes('-h')) {
        ctx.stdout.write(help + '\nEngine options:\n');
        const answer = await askProcess((await python(ctx, parsed)).path, [name, '--help'], 60_000, ctx.env);
        ctx.stdout.write(answer.stdout);
        return 0;
      }
      // The engine prints --json itself; our summary stays off stdout.
      return runEngine(ctx, {...parsed, globals: {...parsed.globals, json: false}}, {command: name, args: engineArgs, relayStdout: true});
    },
  };
}

export const plan = passthrough('plan', 'propose spacing, patch, batch and network for a dataset',
  'Propose a config for a dataset and device (spacing, patch, batch, network width, iterations), with reasons.',
  'heartseg plan ../data/Task02_Heart --device cuda --json');
