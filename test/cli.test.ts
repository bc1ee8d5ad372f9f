import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {commandIndex, runCli} from '../src/cli.js';
import {CONTRACT} from '../src/core/generated/contract.js';

const repo = path.resolve(__dirname, '..');
const fake = path.join(repo, 'test', 'fixtures', 'fake-engine.mjs');
let dir: string;
let data: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hs-cli-'));
  data = path.join(dir, 'data');
  mkdirSync(path.join(data, 'imagesTr'), {recursive: true});
  writeFileSync(path.join(data, 'dataset.json'), '{}');
  writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({train: {epochs: -3}}));
  writeFileSync(path.join(dir, 'model.pth'), 'not a checkpoint');
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {stdout: {write: s => out.push(s)}, stderr: {write: s => err.push(s)},
    env: {...process.env, ...env}, cwd: dir}, false);
  const lines = (xs: string[]) => xs.join('').split('\n').filter(l => l.length);
  return {code, out: out.join(''), err: err.join(''), outLines: lines(out), errLines: lines(err)};
}

describe('dispatch', () => {
  it.each([
    [['train', 'x'], 0],
    [['--runs-dir', 'r', 'train', 'x'], 2],
    [['--ci', '--name=a', 'runs'], 2],
    [['--json'], -1],
  ])('finds the command in %j at %i', (argv, at) => expect(commandIndex(argv)).toBe(at));

  it('without a command and without a terminal prints the help and exits 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^heartseg \d+\.\d+\.\d+/);
    expect(r.errLines.at(-1)).toMatch(/no command given/);
  });

  it('prints the version and the top help', async () => {
    expect((await cli(['--version'])).out.trim()).toBe(JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')).version);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['demo', 'train', 'evaluate', 'predict', 'score', 'inspect', 'runs', 'watch', 'board', 'slurm', 'synth',
      'doctor', 'setup', 'bench', 'info', 'analyze', 'plan']) {
      expect(help.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
  });

  it.each(['demo', 'train', 'evaluate', 'predict', 'score', 'inspect', 'runs', 'watch', 'board', 'slurm', 'synth', 'doctor',
    'setup', 'info', 'analyze'])('`%s --help` shows usage, options and an example', async command => {
    for (const argv of [[command, '--help'], ['help', command]]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`Usage: heartseg ${command}`));
      expect(r.out).toMatch(/Examples?:\n {2}heartseg /);
    }
  });

  it('shows defaults in the training help', async () => {
    const r = await cli(['train', '--help']);
    expect(r.out).toMatch(/--epochs N +Number of epochs.*\(default 100\)/);
    expect(r.out).toMatch(/--patch Z,Y,X .*\(default 64,128,128\)/);
  });

  it('names the planner\'s default budgets, as the engine\'s contract gives them, in the plan help', async () => {
    const r = await cli(['plan', '--help']);
    expect(r.code).toBe(0);
    const {cpu, cuda} = CONTRACT.plan_budget_minutes;
    expect(r.out).toContain(`(default: ${cpu} on a CPU, ${cuda} on a GPU)`);
  });
});

describe('bad usage, missing paths and invalid configs: exit 2 and one line', () => {
  it.each([
    [['train'], /^heartseg train: missing argument/],
    [['train', 'nowhere'], /^heartseg train: DATA \/\S+\/nowhere: no such folder$/],
    [['train', 'data', '--bogus'], /^heartseg train: unknown option '--bogus'/],
    [['train', 'data', '--epochs', '0', '--lr', 'fast'], /^heartseg train: optim\.lr: got "fast", expected a positive number; train\.epochs: got 0/],
    [['train', 'data', '--config', 'missing.json'], /^heartseg train: --config \/\S+\/missing\.json: no such file$/],
    [['train', 'data', '--config', 'bad.json'], /^heartseg train: \S+bad\.json: train\.epochs: got -3, expected an integer >= 1$/],
    [['train', 'data', '--preset', 'nosuch'], /^heartseg train: --preset: no preset named "nosuch"/],
    [['train', 'data', '--python', '/no/python'], /^heartseg train: --python \/no\/python: no such executable$/],
    [['train', 'data', '--name', 'a/b'], /^heartseg train: --name "a\/b": use letters/],
    [['train', 'data', '--name', '..'], /^heartseg train: --name "\.\.": use letters/],
    [['train', '--resume', 'nosuch'], /^heartseg train: run nosuch: no such folder/],
    [['evaluate'], /^heartseg evaluate: missing argument/],
    [['evaluate', 'model.pth'], /^heartseg evaluate: evaluating a checkpoint file needs DATA$/],
    [['evaluate', 'model.pth', 'data', '--split', 'some'], /^heartseg evaluate: --split some: expected val or all$/],
    [['predict', 'model.pth', 'data'], /^heartseg predict: missing --out DIR/],
    [['predict', 'model.pth', 'nothing', '--out', 'o'], /^heartseg predict: INPUT \/\S+\/nothing: no such file or folder$/],
    [['score', 'a'], /^heartseg score: missing argument/],
    [['inspect', 'missing.pth'], /^heartseg inspect: CKPT \/\S+\/missing\.pth: no such file or folder$/],
    [['watch', 'nosuch'], /^heartseg watch: run nosuch: no such folder/],
    [['synth', 'out', '--cases', 'many'], /^heartseg synth: --cases many: expected a whole number$/],
    [['synth', 'out', '--shape', '8,8'], /^heartseg synth: --shape 8,8: expected three positive numbers/],
    [['runs', 'extra'], /^heartseg runs: unexpected argument "extra"/],
    [['nosuchcommand'], /^heartseg: unknown command "nosuchcommand"/],
  ])('%j', async (argv, message) => {
    const r = await cli(argv, {HEARTSEG_PYTHON: fake});
    expect(r.code).toBe(2);
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toMatch(message);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(dir, 'runs'))).toBe(false);
  });
});

describe('--json: one JSON document on stdout whatever happens, the one line on stderr', () => {
  it.each([
    [['train', '--bogus', '--json'], 'train', /unknown option '--bogus'/],
    [['nosuchcommand', '--json'], null, /unknown command "nosuchcommand"/],
    [['train', 'nowhere', '--json'], 'train', /DATA \/\S+\/nowhere: no such folder/],
    [['synth', 'out', '--cases', 'many', '--json'], 'synth', /--cases many: expected a whole number/],
  ] as const)('%j', async (argv, command, problem) => {
    const r = await cli([...argv], {HEARTSEG_PYTHON: fake});
    expect(r.code).toBe(2);
    expect(r.outLines).toHaveLength(1);
    const doc = JSON.parse(r.outLines[0]);
    expect(doc).toMatchObject({command, status: 'bad_input', exit_code: 2});
    expect(doc.problems[0]).toMatch(problem);
    expect(r.errLines).toHaveLength(1);
  });
});

describe('an interpreter that cannot run the engine: exit 2, one line, the setup hint, nothing started', () => {
  const hint = /run `heartseg setup`, or point --python or HEARTSEG_PYTHON at an interpreter with torch >= 2\.4$/;
  const python3 = ['/usr/bin/python3', '/usr/local/bin/python3'].find(p => existsSync(p));
  it.each([
    [['train', 'data', '--python', '/usr/bin/true'], {}],
    [['inspect', 'model.pth', '--python', '/usr/bin/true'], {}],
    [['plan', 'data'], {HEARTSEG_PYTHON: '/usr/bin/true'}],
  ])('%j %j: not a usable Python for the engine', async (argv, env) => {
    const r = await cli(argv, env);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toMatch(new RegExp(`^heartseg ${argv[0]}: not a usable Python for the engine: `));
    expect(r.errLines[0]).toMatch(hint);
    expect(existsSync(path.join(dir, 'runs'))).toBe(false);
  });

  it('HEARTSEG_PYTHON=python3 without torch: "no Python with torch found"', async ctx => {
    if (!python3) return ctx.skip('no system python3');
    const probe = await execa(python3, ['-c', 'import torch'], {reject: false});
    if (probe.exitCode === 0) return ctx.skip(`${python3} has torch`);
    const r = await cli(['train', 'data'], {HEARTSEG_PYTHON: python3, PYTHONPATH: ''});
    expect(r.code).toBe(2);
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toMatch(/^heartseg train: no Python with torch found \(HEARTSEG_PYTHON=\S+: \S+ lacks [^)]*torch/);
    expect(r.errLines[0]).toMatch(hint);
  });
});

describe('train against the fake engine', () => {
  const engineEnv = (scenario: string) => ({HEARTSEG_PYTHON: fake, FAKE_ENGINE_SCENARIO: scenario});

  it('prints one line per epoch and warning, and a summary; the run folder keeps engine.log', async () => {
    const r = await cli(['train', 'data', '--no-plan', '--name', 'plain', '--epochs', '2'], engineEnv('train'));
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/\u001b\[/);
    expect(r.outLines).toContain('warning: imagesTr/case_1.nii.gz: spacing differs: café ♥ 🫀');
    expect(r.outLines.filter(l => /^epoch [12]\/2 +loss /.test(l))).toHaveLength(2);
    expect(r.outLines.find(l => l.startsWith('epoch 2/2'))).toMatch(/dice 0\.7000 \* +best 0\.7000 +lr 1\.00e-3 +1\.5s +eta 0s/);
    expect(r.outLines.at(-1)).toMatch(/^train done in \d+s, 2 epochs, best Dice 0\.7000 \(epoch 2\); run folder .*plain$/);
    expect(readFileSync(path.join(dir, 'runs', 'plain', 'engine.log'), 'utf8')).toContain('library noise on stdout');
  });

  it('plans for the run it feeds: --threads and --minutes reach `plan` as --threads and --budget-minutes', async () => {
    const argsFile = path.join(dir, 'plan-args.json');
    const r = await cli(['train', 'data', '--name', 'planned', '--threads', '1', '--minutes', '7'],
      {...engineEnv('train'), FAKE_ENGINE_ARGS_FILE: argsFile});
    expect(r.code).toBe(0);
    const args = JSON.parse(readFileSync(argsFile, 'utf8')) as string[];
    expect(args.slice(0, 3)).toEqual(['-m', 'heartseg', 'plan']);
    expect(args[args.indexOf('--threads') + 1]).toBe('1');
    expect(args[args.indexOf('--budget-minutes') + 1]).toBe('7');
    expect(r.err).toContain('plan: train.epochs: fake plan');
  });

  it.each([['-1'], ['1.5'], ['x']])('plan --threads %s: exit 2, one line', async (n) => {
    const r = await cli(['plan', 'data', `--threads=${n}`], engineEnv('train'));
    expect(r.code).toBe(2);
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toContain(`--threads ${n}: expected 0 or a positive whole number`);
  });

  it('with --json prints exactly one JSON object on stdout', async () => {
    const r = await cli(['train', 'data', '--no-plan', '--name', 'json', '--json'], engineEnv('train'));
    expect(r.code).toBe(0);
    expect(r.outLines).toHaveLength(1);
    const doc = JSON.parse(r.outLines[0]);
    expect(doc).toMatchObject({command: 'train', status: 'completed', exit_code: 0, best_dice: 0.7, best_epoch: 2});
    expect(doc.epochs.map((e: {epoch: number}) => e.epoch)).toEqual([1, 2]);
    expect(doc.warnings[0]).toMatch(/café/);
  });

  it("passes the engine's bad-input refusal on as exit 2 with its one line, creating nothing", async () => {
    const r = await cli(['train', 'data', '--no-plan', '--name', 'refused'], engineEnv('bad-input'));
    expect(r.code).toBe(2);
    expect(r.errLines).toEqual(['heartseg train: data/missing: no such folder']);
    expect(existsSync(path.join(dir, 'runs', 'refused'))).toBe(false);
  });

  it('refuses to start a run whose folder already exists', async () => {
    const log = readFileSync(path.join(dir, 'runs', 'plain', 'engine.log'));
    const r = await cli(['train', 'data', '--no-plan', '--name', 'plain'], engineEnv('train'));
    expect(readFileSync(path.join(dir, 'runs', 'plain', 'engine.log'))).toEqual(log); // not a line written into the other run
    expect(r.code).toBe(2);
    expect(r.errLines[0]).toBe(`heartseg train: run folder ${path.join(dir, 'runs', 'plain')} already exists: choose another --name, or continue it with: heartseg train --resume ${path.join(dir, 'runs', 'plain')}`);
  });
});

describe("a refused evaluate or predict leaves the training's record as it was", () => {
  const files = ['events.jsonl', 'engine.log', 'config.json', 'checkpoints/last.pt'];
  let run: string;
  const record = () => files.map(f => readFileSync(path.join(run, f), 'utf8'));
  beforeAll(() => {
    run = path.join(dir, 'trained');
    mkdirSync(path.join(run, 'checkpoints'), {recursive: true});
    for (const f of files) writeFileSync(path.join(run, f), `${f} of the training\n`);
    writeFileSync(path.join(dir, 'scan.nii.gz'), 'x');
  });

  it.each([
    [['evaluate', 'trained', 'data'], 'eval'],
    [['predict', 'trained', 'scan.nii.gz', '--out', 'pred'], null],
  ])('%j: exit 2, the engine\'s line, no log or folder left, the run byte-identical', async (argv, sub) => {
    const before = record();
    const r = await cli(argv, {HEARTSEG_PYTHON: fake, FAKE_ENGINE_SCENARIO: 'start-then-refuse'});
    expect(r.code).toBe(2);
    expect(r.errLines).toEqual([`heartseg ${argv[0]}: /data/bad.nii.gz: not a 3-D volume`]);
    expect(record()).toEqual(before);
    if (sub) expect(existsSync(path.join(run, sub))).toBe(false);
    expect(existsSync(path.join(dir, 'pred'))).toBe(false);
  });
});

describe('the built command as a process', () => {
  const bin = path.join(repo, 'dist', 'cli.js');

  it('forwards Ctrl-C (SIGINT) to the engine, which checkpoints: exit 130 and a resume hint', async ctx => {
    if (!existsSync(bin)) return ctx.skip('dist/cli.js is not built (npm run build)');
    const child = execa(process.execPath, [bin, 'train', 'data', '--no-plan', '--name', 'stopme', '--ci'], {cwd: dir, reject: false,
      env: {HEARTSEG_PYTHON: fake, FAKE_ENGINE_SCENARIO: 'wait-signal'}});
    let seen = '';
    await new Promise<void>(resolve => child.stdout!.on('data', (b: Buffer) => {
      seen += b.toString();
      if (seen.includes('train ')) resolve();
    }));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(readFileSync(path.join(dir, 'runs', 'stopme', 'signals.txt'), 'utf8')).toBe('1 SIGINT\n');
    expect(seen).toMatch(/^train interrupted; run folder \S+stopme$/m); // (execa's own r.stdout misses what our listener took)
  });
});
