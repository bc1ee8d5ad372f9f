// heartseg analyze DATA [--json] [--figures DIR]: dataset statistics in TypeScript, read in worker threads.
import {promises as fsp} from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {analyzeDataset, type DatasetAnalysisWithSlices} from '../core/analyze/index.js';
import {reportLines} from '../core/analyze/report.js';
import {colourEnabled, colourPalette} from '../core/render/terminal.js';
import type {CommandSpec} from './common.js';
import {EXIT_BAD_INPUT, EXIT_OK, jsonNumbers, snakeKeys, TOLERATED_GLOBALS, type CommandStreams} from './base.js';

export const ANALYZE_HELP = `Usage: heartseg analyze DATA [--json] [--figures DIR]

Look at a Decathlon-style dataset (dataset.json, imagesTr/, labelsTr/; images may carry a _0000 channel suffix)
without Python: images, labels and pairing problems; per case shape, spacing, orientation, intensity
min/max/mean and 0.5/99.5 percentiles, label volume in voxels and mL; a summary (median spacing, shape ranges,
label volumes, class balance); a label-volume histogram; axial, sagittal and coronal slices through the label
centre. All problems are listed together; exit 2 if there is any.

Options:
  --json          one JSON object with everything (no drawing)
  --figures DIR   also write PNGs: CASE_axial.png, CASE_sagittal.png, CASE_coronal.png, label_volumes.png
  --case NAME     case whose slices are drawn in the terminal (default the first)
  --workers N     worker threads (default: one per core, at most one per case)
  --no-color      no colours (also when NO_COLOR is set or stdout is not a terminal)
  -h, --help      this help

Examples:
  heartseg analyze ../data/Task02_Heart
  heartseg analyze data/la2018 --json > analysis.json
  heartseg analyze data/la2018 --figures figures/
`;

export async function writeFigures(dir: string, a: DatasetAnalysisWithSlices): Promise<string[]> {
  const {writeHistogramPng, writeSlicePng} = await import('../core/render/png.js'); // pngjs only when asked
  await fsp.mkdir(dir, {recursive: true});
  const written: string[] = [];
  for (const c of a.cases) {
    for (const s of a.slices[c.name] ?? []) {
      const file = path.join(dir, `${c.name}_${s.plane}.png`);
      await writeSlicePng(file, {slice: s.data, width: s.width, height: s.height, aspect: s.pixelAspect, label: s.label});
      written.push(file);
    }
  }
  for (const v of Object.keys(a.summary.labelVolumes)) {
    const file = path.join(dir, Object.keys(a.summary.labelVolumes).length > 1 ? `label_volumes_${v}.png` : 'label_volumes.png');
    await writeHistogramPng(file, a.cases.map((c) => c.labelVolumes[v]?.ml ?? 0), {bins: Math.max(5, Math.min(20, a.cases.length))});
    written.push(file);
  }
  return written;
}

export async function runAnalyze(argv: string[], io: CommandStreams): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {...TOLERATED_GLOBALS, figures: {type: 'string'}, case: {type: 'string'}, workers: {type: 'string'}, 'no-color': {type: 'boolean'}},
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    io.stderr.write(`heartseg analyze: ${(e as Error).message.split('\n')[0]}\n`);
    return EXIT_BAD_INPUT;
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) {
    io.stdout.write(ANALYZE_HELP);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) {
    io.stderr.write(`heartseg analyze: ${parsed.positionals.length ? 'one DATA folder only' : 'missing DATA'} (usage: heartseg analyze DATA [--json] [--figures DIR])\n`);
    return EXIT_BAD_INPUT;
  }
  const workers = v.workers === undefined ? undefined : Number(v.workers);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) {
    io.stderr.write(`heartseg analyze: --workers must be a positive integer, got ${v.workers}\n`);
    return EXIT_BAD_INPUT;
  }
  const cwd = io.cwd ?? process.cwd();
  const data = parsed.positionals[0];
  const json = v.json === true;
  const figures = typeof v.figures === 'string' ? path.resolve(cwd, v.figures) : undefined;
  const colour = !json && colourEnabled({isTTY: io.isTTY, noColorFlag: v['no-color'] === true || v.ci === true, env: io.env});
  const showProgress = io.isTTY && !json;

  const analysis = await analyzeDataset(path.resolve(cwd, data), {
    workers,
    slices: Boolean(figures) || !json,
    onProgress: showProgress ? (done, total, item) => io.stderr.write(`\r\x1b[2Kanalysing ${done}/${total} ${item}`) : undefined,
  });
  if (showProgress) io.stderr.write('\r\x1b[2K');

  if (v.case && !analysis.cases.some((c) => c.name === v.case)) {
    analysis.problems.push({file: String(v.case), message: '--case names no analysed case'});
  }
  let written: string[] = [];
  if (figures) {
    try {
      written = await writeFigures(figures, analysis);
    } catch (e) {
      analysis.problems.push({file: figures, message: `cannot write figures (${(e as Error).message})`});
    }
  }
  const {slices, ...plain} = analysis;
  if (json) {
    // snake_case keys like every --json answer; arrays stay per file axis as stored (i, j, k), as the engine's analyze
    io.stdout.write(JSON.stringify(snakeKeys(figures ? {...plain, figures: written} : plain), jsonNumbers, 2) + '\n');
    for (const p of analysis.problems) io.stderr.write(`heartseg analyze: ${path.resolve(cwd, data, p.file)}: ${p.message}\n`);
  } else {
    const lines = reportLines(plain, {
      color: colour,
      palette: colourPalette(io.env),
      columns: io.columns || Number(io.env?.COLUMNS) || 100, // a pty without a size reports 0
      caseName: typeof v.case === 'string' && slices[v.case] ? v.case : undefined,
      slices,
    });
    if (figures) lines.push('', `Figures: ${written.length} PNG files in ${figures}`);
    io.stdout.write(lines.join('\n') + '\n');
  }
  return analysis.problems.length > 0 ? EXIT_BAD_INPUT : EXIT_OK;
}

export const analyzeCommand: CommandSpec = {
  name: 'analyze',
  summary: 'dataset statistics, label volumes and centre slices (no Python needed)',
  help: ANALYZE_HELP,
  run: (argv, ctx) =>
    runAnalyze(argv, {
      stdout: ctx.stdout,
      stderr: ctx.stderr,
      isTTY: Boolean(ctx.stdout.isTTY),
      env: ctx.env,
      cwd: ctx.cwd,
      columns: (ctx.stdout as {columns?: number}).columns,
    }),
};
