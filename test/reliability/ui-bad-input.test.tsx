// The terminal UI on a dataset full of bad input, with the real core: it lists the problems and stays usable.
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import React from 'react';
import {cleanup, render} from 'ink-testing-library';
import {afterAll, afterEach, beforeAll, expect, it} from 'vitest';
import {createCore} from '../../src/core/api.js';
import {App} from '../../src/ui/root.js';
import {type Corpus, loadSources, writeCorpus} from '../helpers/bad-corpus.js';
import {KEY, press, until} from '../ui-keys.js';
import {enginePython, entriesUnder, testEnv} from './cli.js';

let tmp: string;
let corpus: Corpus;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const python = await enginePython();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-ui-bad-'));
  env = testEnv(python, tmp);
  corpus = writeCorpus(tmp, await loadSources(python, env, tmp), {unreadable: false});
});

afterEach(() => cleanup());
afterAll(() => {
  if (tmp) rmSync(tmp, {recursive: true, force: true});
});

it('shows the problems of a broken dataset, then still answers keys (t opens the training form)', async () => {
  const runsDir = path.join(tmp, 'runs');
  const core = createCore({runsDir, env});
  const {lastFrame, stdin} = render(<App core={core} size={{columns: 100, rows: 40}} colour={false}
    initialRoute={{screen: 'dataset', root: corpus.dataset}} />);
  // problem lines name the file and say what is wrong; the rest are counted, not dropped
  const frame = await until(lastFrame, f => /^! \S*bad_\w+\.nii(\.gz)?: \S/m.test(f), 60_000);
  const shown = frame.split('\n').filter(l => /^! \S*bad_\w+\.nii(\.gz)?: \S/.test(l)).length;
  const more = Number(/and (\d+) more problems/.exec(frame)?.[1] ?? 0);
  expect(shown + more).toBeGreaterThanOrEqual(corpus.inputs.length); // one problem per bad input at least
  expect(frame).not.toMatch(/Traceback|\n\s+at .+:\d+:\d+\)/);
  await press(stdin, 't');
  await until(lastFrame, f => f.includes('data.root') && f.includes('all-problems'), 10_000);
  await press(stdin, KEY.escape);
  expect(entriesUnder(runsDir)).toEqual([]);
});
