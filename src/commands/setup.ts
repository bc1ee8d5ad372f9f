// heartseg setup: create or complete the engine's Python environment (also run by npm install).
import {runSetup, SetupError} from '../core/setup.js';
import {type CommandSpec, type Context, expectPositionals, Failure, helpText, parseCommand} from './common.js';

export const help = helpText({
  usage: ['heartseg setup [--force]'],
  about: 'Create the Python environment the engine runs in: a venv at $HEARTSEG_VENV, else\n'
    + '${XDG_DATA_HOME:-~/.local/share}/heartseg/venv, with the packages of requirements.txt (and requirements-dev.txt\n'
    + 'in a git clone or with HEARTSEG_DEV=1). A stamp of the requirements makes a second run do nothing. Skipped when\n'
    + 'HEARTSEG_PYTHON names an interpreter that already has what the engine needs. HEARTSEG_TORCH_INDEX adds a pip\n'
    + 'index for torch (e.g. https://download.pytorch.org/whl/cpu on machines without a GPU).',
  options: ['  --force             reinstall the requirements even when the stamp says they are there'],
  examples: ['heartseg setup', 'HEARTSEG_VENV=/scratch/me/hs-venv heartseg setup'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {force: {type: 'boolean'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 0, 0, 'heartseg setup');
  const out = p.globals.json ? ctx.stderr : ctx.stdout;
  try {
    const r = await runSetup({env: ctx.env, force: p.values.force === true, log: l => out.write(l + '\n')});
    if (p.globals.json) ctx.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  } catch (e) {
    if (e instanceof SetupError) throw new Failure(e.message);
    throw e;
  }
}

export const setup: CommandSpec = {name: 'setup', summary: "create or update the engine's Python environment", help, run};
