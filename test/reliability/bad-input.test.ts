// Bad input through the real CLI (`node dist/cli.js`, --ci) and the real engine: one clear message naming the file
// and the problem, exit 2, no traceback, nothing in the runs folder. Paths with spaces and non-ASCII must work.
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {type BadInput, type Corpus, loadSources, repoRoot, writeCorpus} from '../helpers/bad-corpus.js';
import {cli, type CliResult, enginePython, ensureBuilt, entriesUnder, permissionPrefix, testEnv} from './cli.js';
import {hasTraceback, namesProblem} from './messages.js';

let tmp: string;
let env: NodeJS.ProcessEnv;
let corpus: Corpus;
let prefix: string[];
let runsDir: string;
let python: string;
const tried: Record<string, number> = {};

beforeAll(async () => {
  await ensureBuilt();
  python = await enginePython();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-bad-input-'));
  env = testEnv(python, tmp);
  const perm = await permissionPrefix();
  prefix = perm ?? [];
  corpus = writeCorpus(tmp, await loadSources(python, env, tmp), {unreadable: perm !== null});
  runsDir = path.join(tmp, 'runs');
  for (const why of corpus.sources.skipped) console.log(`bad-input corpus: skipped ${why}`);
  console.log(`bad-input corpus: ${corpus.inputs.length} inputs from ${corpus.sources.origin}`);
});

afterAll(() => {
  console.log(`bad inputs tried per command: ${JSON.stringify(tried)}`);
  if (tmp) rmSync(tmp, {recursive: true, force: true});
});

const run = (args: string[]) => cli([...args, '--ci', '--runs-dir', runsDir], {cwd: tmp, env, prefix});
const count = (command: string, n: number) => (tried[command] = (tried[command] ?? 0) + n);
const refs = (root: string, b: BadInput) => [path.join(root, b.rel), b.rel];
const loose = (b: BadInput) => b.file ?? path.join(corpus.dataset, b.rel);

/** The common promise: exit 2, no traceback, the runs folder untouched. */
function refusedCleanly(r: CliResult, what: string): void {
  expect(r.exitCode, `${what}: exit code\n${r.output}`).toBe(2);
  expect(hasTraceback(r.output), `${what}: traceback\n${r.output}`).toBe(false);
  expect(entriesUnder(runsDir), `${what}: runs folder`).toEqual([]);
}

function unnamed(r: CliResult, list: BadInput[], where: (b: BadInput) => string[]): string[] {
  return list.filter(b => !namesProblem(r.output, where(b), b.problem)).map(b => `${b.id} (${b.what})`);
}

describe('info: a header viewer', () => {
  it('refuses every unreadable or broken NIfTI with its own message, and shows valid-but-unusable ones truthfully', async () => {
    const files = corpus.inputs.filter(b => b.level === 'file' || b.unreadable);
    const r = await run(['info', ...files.map(loose)]);
    count('info', files.length);
    refusedCleanly(r, 'info');
    const broken = files.filter(b => !b.viewable);
    expect(unnamed(r, broken, b => [loose(b)])).toEqual([]);
    // A valid NIfTI with NaN voxels, or 2-D, 4-D or 5-D, may be shown (with the facts) or refused (with the reason).
    const facts: Record<string, RegExp> = {nan_voxels: /\b3 NaN/, inf_voxels: /\b2 NaN\/inf|\b2 inf/i, two_d: /shape\s+\d+ x \d+\n/,
      five_d: /shape\s+(\d+ x ){4}\d+\n/, corpus_nifti2_4d: /shape\s+32 x 20 x 12 x 2\n/};
    const shownOrRefused = files.filter(b => b.viewable).filter(b => {
      const block = r.stdout.split(/\n\n/).find(s => s.startsWith(loose(b)));
      return block ? !facts[b.id]?.test(`${block}\n`) : !namesProblem(r.output, [loose(b)], b.problem);
    });
    expect(shownOrRefused.map(b => b.id)).toEqual([]);
  });
});

describe('analyze: the dataset look-through (no Python)', () => {
  it('lists every problem in a dataset that has only that problem, naming the file, exit 2', async () => {
    const failures: string[] = [];
    for (const b of corpus.inputs) {
      const root = corpus.single[b.id];
      const r = await run(['analyze', root]);
      count('analyze', 1);
      if (r.exitCode !== 2 || hasTraceback(r.output) || !namesProblem(r.output, refs(root, b), b.problem)) {
        failures.push(`${b.id} (${b.what}): exit ${r.exitCode}: ${r.output.split('\n').filter(l => /bad_|problem/i.test(l)).join(' | ').slice(0, 300)}`);
      }
    }
    expect(entriesUnder(runsDir)).toEqual([]);
    expect(failures).toEqual([]);
  });

  it('lists all problems of a dataset together, and a malformed dataset.json', async () => {
    const all = await run(['analyze', corpus.dataset]);
    const json = await run(['analyze', corpus.malformed.dataset]);
    count('analyze', corpus.inputs.length + 1);
    refusedCleanly(all, 'analyze all-problems');
    expect(unnamed(all, corpus.inputs, b => refs(corpus.dataset, b))).toEqual([]);
    refusedCleanly(json, 'analyze malformed dataset.json');
    expect(namesProblem(json.output, ['dataset.json'], corpus.malformed.problem), json.output).toBe(true);
  });
});

describe('train: the engine checks everything before a run folder exists', () => {
  it('refuses a dataset with every problem at once, listing each file with its problem, and caches nothing', async () => {
    const r = await run(['train', corpus.dataset, '--name', 'bad', '--epochs', '1', '--features', '4,8', '--patch', '16,16,16']);
    count('train', corpus.inputs.length);
    refusedCleanly(r, 'train');
    expect(unnamed(r, corpus.inputs, b => refs(corpus.dataset, b))).toEqual([]);
    const cases = path.join(tmp, 'cache', 'cases');
    expect(existsSync(cases) ? readdirSync(cases) : []).toEqual([]);
  });

  it('refuses a malformed dataset.json naming it', async () => {
    const r = await run(['train', corpus.malformed.dataset, '--name', 'bad-json', '--epochs', '1']);
    count('train', 1);
    refusedCleanly(r, 'train malformed dataset.json');
    expect(namesProblem(r.output, [path.join(corpus.malformed.dataset, 'dataset.json')], corpus.malformed.problem), r.output).toBe(true);
  });
});

describe('predict: every input is checked before anything is written', () => {
  let checkpoint: string;
  beforeAll(async () => {
    // A raw state_dict of a tiny network, as `torch.save(model.state_dict(), ...)` writes it.
    checkpoint = path.join(tmp, 'tiny_state_dict.pth');
    await execa(python, ['-c', 'import sys, torch; from heartseg.model import build_model; '
      + 'torch.manual_seed(0); torch.save(build_model(1, 1, [4, 8]).state_dict(), sys.argv[1])', checkpoint],
    {env: {...env, PYTHONPATH: path.join(repoRoot, 'py')}, extendEnv: false, stdin: 'ignore'});
  });

  it('refuses all unusable images together, each named with its problem, and writes no output', async () => {
    const files = corpus.inputs.filter(b => b.level === 'file' || b.unreadable);
    const out = path.join(tmp, 'predictions');
    const r = await run(['predict', checkpoint, ...files.map(loose), '--out', out]);
    count('predict', files.length);
    refusedCleanly(r, 'predict');
    expect(unnamed(r, files, b => [loose(b)])).toEqual([]);
    expect(entriesUnder(out)).toEqual([]);
  });
});

describe('paths with spaces and non-ASCII characters work', () => {
  it('info, analyze, train and predict all succeed on them', async () => {
    const oddRuns = path.join(tmp, 'runs ü 心');
    const odd = (args: string[]) => cli([...args, '--ci', '--runs-dir', oddRuns], {cwd: tmp, env, prefix});
    const info = await odd(['info', corpus.oddImage]);
    expect(info.exitCode, info.output).toBe(0);
    expect(info.stdout).toContain(corpus.oddImage);
    const analyze = await odd(['analyze', corpus.oddDataset]);
    expect(analyze.exitCode, analyze.output).toBe(0);
    expect(analyze.stdout).toContain('case ü 0');
    const train = await odd(['train', corpus.oddDataset, '--name', 'odd', '--epochs', '1', '--iters', '2', '--features', '4,8',
      '--patch', '16,16,16', '--batch', '1', '--threads', '1', '--device', 'cpu']);
    expect(train.exitCode, train.output).toBe(0);
    expect(existsSync(path.join(oddRuns, 'odd', 'checkpoints', 'best.pt'))).toBe(true);
    const out = path.join(tmp, 'predictions ü 心');
    const predict = await odd(['predict', 'odd', corpus.oddImage, '--out', out]);
    expect(predict.exitCode, predict.output).toBe(0);
    expect(readdirSync(out).filter(f => /\.nii(\.gz)?$/.test(f))).toEqual(['case ü 0.nii.gz']); // and the prediction's record
    expect(hasTraceback(`${info.output}${analyze.output}${train.output}${predict.output}`)).toBe(false);
  }, 600_000); // train plans first: minutes on a busy 2-core machine
});
