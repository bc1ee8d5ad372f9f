// heartseg info FILE... [--json]: a header summary per NIfTI file; bad files give their typed error, exit 2 at the end.
import path from 'node:path';
import {parseArgs} from 'node:util';
import {isNiftiError, readNifti, type NiftiHeader} from '../core/nifti/index.js';
import {shapeProblem} from '../core/analyze/case.js';
import {intensityStats, type IntensityStats} from '../core/analyze/stats.js';
import {formatNumber} from '../core/render/table.js';
import {colourEnabled} from '../core/render/terminal.js';
import type {CommandSpec} from './common.js';
import {EXIT_BAD_INPUT, EXIT_OK, jsonNumbers, snakeKeys, TOLERATED_GLOBALS, type CommandStreams} from './base.js';

export const INFO_HELP = `Usage: heartseg info FILE... [--json]

Header summary of NIfTI files (.nii, .nii.gz, .hdr/.img): shape, voxel size, datatype, scaling, orientation,
affine (chosen as NiBabel does: sform, else qform, else from pixdims) and the value range of the first volume.
A file that cannot be read gets one line naming the problem; the others are still shown; exit 2 if any failed.

Options:
  --json       one JSON object: {"files": [{file, ok, header, range} | {file, ok: false, error: {code, message}}]}
  --no-color   no colours (also when NO_COLOR is set or stdout is not a terminal)
  -h, --help   this help

Examples:
  heartseg info data/imagesTr/case_000.nii.gz
  heartseg info data/labelsTr/*.nii.gz --json
`;

export type InfoEntry =
  | {file: string; ok: true; header: NiftiHeader; range: IntensityStats}
  | {file: string; ok: false; error: {code: string; message: string}};

export async function infoFor(file: string, cwd: string): Promise<InfoEntry> {
  try {
    const vol = await readNifti(path.resolve(cwd, file));
    return {file, ok: true, header: vol.header, range: intensityStats(vol.data)};
  } catch (e) {
    if (isNiftiError(e)) return {file, ok: false, error: {code: e.code, message: e.detail}};
    return {file, ok: false, error: {code: 'io', message: (e as Error).message}};
  }
}

function affineSource(h: NiftiHeader): string {
  if (h.sformCode > 0) return `sform (code ${h.sformCode})`;
  if (h.qformCode > 0) return `qform (code ${h.qformCode})`;
  return 'pixdims (no qform or sform)';
}

export function infoLines(e: Extract<InfoEntry, {ok: true}>, bold: (s: string) => string): string[] {
  const h = e.header;
  const n = (v: number) => formatNumber(v, 6);
  const affine = h.affine.map((row) => row.map((v) => n(Math.abs(v) < 1e-9 ? 0 : v))); // float32 noise is not information
  const w = Math.max(...affine.flat().map((s) => s.length));
  const rows = affine.map((row) => `[ ${row.map((s) => s.padStart(w)).join('  ')} ]`);
  const field = (name: string, value: string) => `  ${name.padEnd(13)}${value}`;
  const r = e.range;
  return [
    bold(e.file),
    field('format', `NIfTI-${h.version}${h.isPair ? ' pair (.hdr/.img)' : ''}, ${h.littleEndian ? 'little' : 'big'}-endian`),
    field('shape', h.shape.join(' x ')),
    field('voxel size', h.voxelSize.map(n).join(' x ')),
    field('datatype', `${h.datatype} (code ${h.datatypeCode})`),
    field('scaling', h.scaled ? `value * ${n(h.sclSlope)} + ${n(h.sclInter)}` : 'none'),
    field('orientation', `${h.orientation}  (affine from ${affineSource(h)}; qform ${h.qformCode}, sform ${h.sformCode})`),
    field('affine', rows[0]),
    ...rows.slice(1).map((row) => field('', row)),
    field('value range', `${n(r.min)} .. ${n(r.max)}, mean ${n(r.mean)}${h.shape.length > 3 ? ' (first volume)' : ''}${r.nonFinite ? `, ${r.nonFinite} NaN/inf` : ''}`),
    ...(h.description ? [field('description', h.description)] : []),
  ];
}

export async function runInfo(argv: string[], io: CommandStreams): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({args: argv, options: {...TOLERATED_GLOBALS, 'no-color': {type: 'boolean'}}, allowPositionals: true, strict: true});
  } catch (e) {
    io.stderr.write(`heartseg info: ${(e as Error).message.split('\n')[0]}\n`);
    return EXIT_BAD_INPUT;
  }
  const v = parsed.values as Record<string, unknown>;
  if (v.help) {
    io.stdout.write(INFO_HELP);
    return EXIT_OK;
  }
  if (parsed.positionals.length === 0) {
    io.stderr.write('heartseg info: missing FILE (usage: heartseg info FILE... [--json])\n');
    return EXIT_BAD_INPUT;
  }
  const cwd = io.cwd ?? process.cwd();
  const json = v.json === true;
  const colour = !json && colourEnabled({isTTY: io.isTTY, noColorFlag: v['no-color'] === true || v.ci === true, env: io.env});
  const bold = (s: string) => (colour ? `\x1b[1m${s}\x1b[22m` : s);
  const entries: InfoEntry[] = [];
  let problems = 0;
  // One file at a time: each is read in full, and the order of the output follows the arguments.
  for (const file of parsed.positionals) {
    const e = await infoFor(file, cwd);
    entries.push(e);
    const abs = path.resolve(cwd, file);
    if (!e.ok) io.stderr.write(`heartseg info: ${abs}: ${e.error.message} [${e.error.code}]\n`);
    else {
      if (!json) io.stdout.write(infoLines(e, bold).join('\n') + '\n\n');
      // Readable, but not what heartseg can use (2-D, 4-D, 5-D): shown, and refused like train would (exit 2).
      const unusable = shapeProblem(e.header.shape);
      if (unusable) {
        io.stderr.write(`heartseg info: ${abs}: ${unusable}\n`);
        problems += 1;
      }
    }
  }
  if (json) io.stdout.write(JSON.stringify({files: entries.map(snakeEntry)}, jsonNumbers, 2) + '\n');
  return problems === 0 && entries.every((e) => e.ok) ? EXIT_OK : EXIT_BAD_INPUT;
}

function snakeEntry(e: InfoEntry): unknown {
  return snakeKeys(e);
}

export const infoCommand: CommandSpec = {
  name: 'info',
  summary: 'header summary of NIfTI files',
  help: INFO_HELP,
  run: (argv, ctx) => runInfo(argv, {stdout: ctx.stdout, stderr: ctx.stderr, isTTY: Boolean(ctx.stdout.isTTY), env: ctx.env, cwd: ctx.cwd}),
};
