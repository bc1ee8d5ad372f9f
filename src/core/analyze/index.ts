// Dataset analysis: discover pairs, analyse cases in worker threads, summarise; problems are collected, never thrown.
import {discoverDataset} from './discover.js';
import {runCases} from './pool.js';
import {summarise} from './summary.js';
import type {CaseAnalysis, CaseTask, DatasetAnalysis, Problem, SliceView} from './types.js';

export type * from './types.js';
export {discoverDataset, caseName, type CasePair, type Discovery} from './discover.js';
export {intensityStats, labelStats, selectRanks, type IntensityStats} from './stats.js';
export {summarise, median} from './summary.js';
export {workerFile, poolSize} from './pool.js';

export interface AnalyzeOptions {
  /** worker threads; default min(cores, cases) */
  workers?: number;
  /** analyse in this thread (no workers) */
  inProcess?: boolean;
  onProgress?: (done: number, total: number, item: string) => void;
  /** also return axial/sagittal/coronal slices through each label centre (for figures) */
  slices?: boolean;
  /** per-file memory limit passed to the reader */
  maxBytes?: number;
}

export interface DatasetAnalysisWithSlices extends DatasetAnalysis {
  /** case name -> slices, only with `slices: true` */
  slices: Record<string, SliceView[]>;
}

export async function analyzeDataset(root: string, opts: AnalyzeOptions = {}): Promise<DatasetAnalysisWithSlices> {
  const found = await discoverDataset(root);
  const tasks: CaseTask[] = found.pairs.map((p) => ({
    root: found.root,
    name: p.name,
    image: p.image,
    label: p.label,
    labels: found.labels,
    slices: Boolean(opts.slices),
    maxBytes: opts.maxBytes,
  }));
  let done = 0;
  opts.onProgress?.(0, tasks.length, '');
  const results = await runCases(tasks, {
    workers: opts.workers,
    inProcess: opts.inProcess,
    onDone: (task) => opts.onProgress?.(++done, tasks.length, task.name),
  });
  const problems: Problem[] = [...found.problems];
  const cases: CaseAnalysis[] = [];
  const slices: Record<string, SliceView[]> = {};
  for (const r of results) {
    problems.push(...r.problems);
    if (r.analysis) {
      cases.push(r.analysis);
      if (r.slices) slices[r.analysis.name] = r.slices;
    }
  }
  return {
    root: found.root,
    name: found.name,
    labels: found.labels,
    pairs: found.pairs.length,
    images: found.images,
    labelFiles: found.labelFiles,
    problems,
    cases,
    summary: summarise(cases, found.labels),
    slices,
  };
}
