// heartseg train DATA | train --resume RUN: build and check the config, then run the engine headless.
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {ConfigError, setKey, validateConfig} from '../core/config.js';
import {buildConfig, configFlagHelp, configFlagOptions, flagOverrides} from '../core/config-flags.js';
import {defaultRunName} from '../core/paths.js';
import {askProcess} from '../core/pythonia.js';
import {type CommandSpec, type Context, existingPath, expectPositionals, helpText, parseCommand, python, runEngine, str, UsageError, type Parsed} from './common.js';

const USAGE = 'heartseg train DATA [options]';

export const help = helpText({
  usage: [USAGE, 'heartseg train --resume RUN [options]'],
  about: 'Train a 3D U-Net on a Decathlon-style dataset (dataset.json, imagesTr/, labelsTr/). Everything goes to the\n'
    + 'run folder RUNS_DIR/NAME: config.json, events.jsonl, engine.log, tensorboard/, checkpoints/last.pt and best.pt.\n'
    + 'Ctrl-C (or SIGTERM) stops after the current step with a checkpoint; --resume continues from it.\n'
    + 'Config precedence: defaults < plan < --preset < --config < flags. Without --preset or --config the run starts\n'
    + 'from `heartseg plan DATA` (spacing, patch, batch, network and length for this dataset and device).',
  options: [
    '  --resume RUN        continue RUN (a folder, or a name in --runs-dir) from its last.pt',
    '  --init CKPT         start from the weights of a compatible checkpoint (fine-tuning)',
    ...configFlagHelp(),
  ],
  examples: [
    'heartseg train ../data/Task02_Heart --epochs 50 --patch 64,128,128',
    'heartseg train data/la --patch 64,128,128 --features 32,64,128,256 --ci',
    'heartseg train --resume runs/la-20250101-120000 --epochs 200',
  ],
});

/** A run given by path or by name in the runs folder. */
export function findRun(ctx: Context, runsDir: string, run: string): string {
  const asPath = path.resolve(ctx.cwd, run);
  if (existsSync(asPath)) return asPath;
  const inRuns = path.join(runsDir, run);
  if (existsSync(inRuns)) return inRuns;
  throw new UsageError(`run ${run}: no such folder (looked in . and ${runsDir})`);
}

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {...configFlagOptions(), resume: {type: 'string'}, init: {type: 'string'}}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  const flags = p.values as Record<string, string | boolean | undefined>;
  const resume = str(p, 'resume');
  expectPositionals(p, resume ? 0 : 1, 1, USAGE);
  const init = str(p, 'init') ? existingPath(ctx, '--init', str(p, 'init'), 'file') : undefined;
  const configFile = str(p, 'config') ? existingPath(ctx, '--config', str(p, 'config'), 'file') : undefined;
  const data = p.positionals[0] ? existingPath(ctx, 'DATA', p.positionals[0], 'dir') : undefined;
  let runDir: string;
  let config: Record<string, unknown>;
  try {
    if (resume) {
      runDir = findRun(ctx, p.globals.runsDir, resume);
      const stored = readStoredConfig(runDir);
      if (!existsSync(path.join(runDir, 'checkpoints', 'last.pt'))) {
        throw new UsageError(`run ${resume}: nothing to resume (no checkpoints/last.pt)`);
      }
      // Only what the user changes travels; the engine checks it against the run's config.json.
      config = flagOverrides(flags);
      if (data) setKey(config, 'data.root', data);
      if (configFile) throw new UsageError('--config cannot be combined with --resume; use flags such as --epochs');
      buildConfig({flags, base: stored, set: data ? {'data.root': data} : {}});
    } else {
      const name = p.globals.name ?? defaultRunName(data!);
      if (!/^[\w.-]+$/.test(name)) throw new UsageError(`--name ${name}: use letters, digits, '.', '-' and '_' only`);
      runDir = path.join(p.globals.runsDir, name);
      if (existsSync(runDir)) throw new UsageError(`run folder ${runDir} already exists; choose another --name or use --resume ${name}`);
      const layers = {preset: str(p, 'preset'), configFile, flags, set: {'data.root': data, name}};
      config = buildConfig(layers); // flags and files are checked before any (slower) planning
      if (!layers.preset && !configFile && flags['no-plan'] !== true) {
        const plan = await planFor(ctx, p, data!, flags);
        if (plan) config = buildConfig({...layers, plan});
      }
    }
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.problems.join('; '));
    throw e;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'heartseg-'));
  try {
    // Named for what it holds: the engine's messages cite this file when a value is refused.
    const cfgFile = path.join(tmp, resume ? 'command-line-overrides.json' : 'config.json');
    writeFileSync(cfgFile, JSON.stringify(config, null, 2));
    const args = ['--config', cfgFile, '--run', runDir, ...(resume ? ['--resume'] : []), ...(init ? ['--init', init] : [])];
    return await runEngine(ctx, p, {
      command: 'train', args, runDir,
      hint: r => (r.exitCode === 130 && existsSync(path.join(runDir, 'checkpoints', 'last.pt'))
        ? `resume with: heartseg train --resume ${path.relative(ctx.cwd, runDir) || runDir}` : undefined),
    });
  } finally {
    rmSync(tmp, {recursive: true, force: true});
  }
}

/** The engine's plan for this dataset and device, its reasons on stderr; undefined when there is none to use. */
async function planFor(ctx: Context, p: Parsed, data: string, flags: Record<string, string | boolean | undefined>): Promise<Record<string, unknown> | undefined> {
  const device = typeof flags.device === 'string' && flags.device.startsWith('cuda') ? 'cuda' : flags.device === 'cpu' ? 'cpu' : 'auto';
  const answer = await askProcess((await python(ctx, p)).path, ['plan', data, '--json', '--device', device], 180_000, ctx.env);
  // Bad data (exit 2): no plan, and the engine's own checks report every problem when training starts.
  if (answer.code === 2) return undefined;
  let planned: {config?: Record<string, unknown>; reasons?: Record<string, string>} | undefined;
  try {
    planned = answer.code === 0 ? JSON.parse(answer.stdout) : undefined;
  } catch {
    planned = undefined;
  }
  if (!planned?.config) {
    const why = answer.stderr.trim().split('\n').pop() || `exit ${answer.code}`;
    ctx.stderr.write(`plan: unavailable (${why}); starting from the defaults\n`);
    return undefined;
  }
  for (const [key, reason] of Object.entries(planned.reasons ?? {})) ctx.stderr.write(`plan: ${key}: ${reason}\n`);
  return planned.config;
}

function readStoredConfig(runDir: string): Record<string, unknown> {
  const file = path.join(runDir, 'config.json');
  if (!existsSync(file)) throw new UsageError(`${runDir}: no config.json, not a heartseg run folder`);
  const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const check = validateConfig(data);
  if (!check.ok) throw new UsageError(`${file}: ${check.problems[0]}`);
  return data;
}

export const train: CommandSpec = {name: 'train', summary: 'train a model on a dataset (headless progress lines)', help, run};
