// The demo's fixed choices and how to read its result; the steps themselves run as the ordinary commands.
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {CONTRACT} from './generated/contract.js';

export const DEMO = {
  preset: 'demo',
  dataFolder: 'demo-data',
  cases: 20,
  seed: 0,
} as const;

/** The synthetic dataset lives in the runs folder and is reused by later demos. */
export function demoDataDir(runsDir: string): string {
  return path.join(runsDir, DEMO.dataFolder);
}

export function hasDataset(dir: string): boolean {
  return existsSync(path.join(dir, 'dataset.json'));
}

/** Mean foreground Dice from RUN/eval/summary.json (label -> metric -> stats), or null. */
export function evalDice(runDir: string): number | null {
  try {
    const doc = JSON.parse(readFileSync(path.join(runDir, CONTRACT.run_folder.eval_summary), 'utf8')) as Record<string, unknown>;
    const labels = (doc.summary ?? doc.labels ?? doc) as Record<string, Record<string, {mean?: unknown}>>;
    const means = Object.values(labels).map(m => m?.dice?.mean).filter((v): v is number => typeof v === 'number');
    return means.length ? means.reduce((a, b) => a + b, 0) / means.length : null;
  } catch {
    return null;
  }
}
