// A checkpoint whose unpickling would run code is refused by every command that loads checkpoints, and runs nothing.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {loadSources, repoRoot, sharedDir, writeGoodDataset} from '../helpers/bad-corpus.js';
import {cli, enginePython, ensureBuilt, entriesUnder, testEnv} from './cli.js';
import {hasTraceback} from './messages.js';

const MARKER = 'HEARTSEG_PICKLE_EXECUTED';
const FIXTURE = path.join(sharedDir, 'fixtures', 'untrusted_code_checkpoint.pth');

let tmp: string;
let env: NodeJS.ProcessEnv;
let checkpoint: string;
let data: string;
let runs: string;

beforeAll(async () => {
  await ensureBuilt();
  const python = await enginePython();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-untrusted-'));
  env = testEnv(python, tmp);
  runs = path.join(tmp, 'runs');
  data = writeGoodDataset(path.join(tmp, 'data'), await loadSources(python, env, tmp));
  if (existsSync(FIXTURE)) {
    checkpoint = FIXTURE;
  } else {
    // Without ../shared: a checkpoint of the same kind, made here (its unpickling would create the marker file).
    console.log(`untrusted: ${FIXTURE} is absent; using a generated checkpoint whose unpickling calls open()`);
    checkpoint = path.join(tmp, 'generated_untrusted.pth');
    await execa(python, ['-c', 'import sys, torch\nclass Evil:\n    def __reduce__(self):\n'
      + `        return (open, (${JSON.stringify(MARKER)}, "w"))\ntorch.save({"model": Evil()}, sys.argv[1])`, checkpoint],
    {cwd: path.join(tmp, 'data'), env, extendEnv: false, stdin: 'ignore'});
  }
  mkdirSync(path.join(tmp, 'cwd'));
});

afterAll(() => {
  if (tmp) rmSync(tmp, {recursive: true, force: true});
});

/** Every place the marker could appear: the test's folders, the repository, home, the temp and root folders. */
function markersFound(): string[] {
  const found = readdirSync(tmp, {recursive: true}).map(String).filter(p => path.basename(p) === MARKER).map(p => path.join(tmp, p));
  for (const dir of [repoRoot, path.join(repoRoot, 'py'), os.homedir(), os.tmpdir(), '/', process.cwd()]) {
    if (existsSync(path.join(dir, MARKER))) found.push(path.join(dir, MARKER));
  }
  return found;
}

describe('the untrusted checkpoint', () => {
  const image = () => path.join(data, 'imagesTr', 'case_0.nii.gz');
  const commands: [string, () => string[]][] = [
    ['inspect', () => ['inspect', checkpoint]],
    ['evaluate', () => ['evaluate', checkpoint, data, '--name', 'eval-untrusted']],
    ['predict', () => ['predict', checkpoint, image(), '--out', path.join(tmp, 'predictions')]],
    ['train --init', () => ['train', data, '--init', checkpoint, '--name', 'finetune', '--epochs', '1', '--features', '4,8', '--patch', '16,16,16']],
  ];

  it.each(commands)('is refused by %s: exit 2, a message naming it, nothing written, no code run', async (_name, args) => {
    const r = await cli([...args(), '--ci', '--runs-dir', runs], {cwd: path.join(tmp, 'cwd'), env});
    expect(r.exitCode, r.output).toBe(2);
    expect(r.output).toContain(path.basename(checkpoint));
    expect(r.output).toMatch(/arbitrary code|refused|not allowed|unsafe|untrusted|weights_only/i);
    expect(hasTraceback(r.output), r.output).toBe(false);
    expect(entriesUnder(runs)).toEqual([]);
    expect(entriesUnder(path.join(tmp, 'predictions'))).toEqual([]);
    expect(markersFound()).toEqual([]);
  });
});
