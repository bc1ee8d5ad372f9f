// The reader against NiBabel's reading of the shared NIfTI corpus (expected.json).
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';
import {NiftiError, readNifti, readNiftiHeader} from '../src/core/nifti/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpus = path.resolve(repoRoot, '..', 'shared', 'data', 'nifti-corpus');
const haveCorpus = existsSync(path.join(corpus, 'expected.json'));
if (!haveCorpus) console.log(`skipping nifti corpus tests: ${corpus} is absent`);

interface Expected {
  readable_as_nifti: boolean;
  reason?: string;
  nifti_version?: number;
  endianness?: 'little' | 'big';
  shape?: number[];
  zooms?: number[];
  datatype_code?: number;
  qform_code?: number;
  sform_code?: number;
  affine?: number[][];
  first_volume_scaled?: {sum: number; min: number; max: number; at_0_0_0: number; at_last: number};
}

const expected: Record<string, Expected> = haveCorpus ? JSON.parse(readFileSync(path.join(corpus, 'expected.json'), 'utf8').replace(/\bNaN\b/g, 'null')) : {};
const readable = Object.entries(expected).filter(([, e]) => e.readable_as_nifti);
const unreadable = Object.entries(expected).filter(([, e]) => !e.readable_as_nifti);

function closeTo(actual: number, want: number | null, rel = 1e-7): void {
  if (want === null) {
    expect(Number.isNaN(actual)).toBe(true); // NaN in expected.json (parsed as null): the volume holds NaNs
    return;
  }
  expect(Math.abs(actual - want)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(want)));
}

function stats(data: Float32Array | Float64Array) {
  let sum = 0, min = Infinity, max = -Infinity, nan = false;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isNaN(v)) nan = true;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return nan ? {sum: NaN, min: NaN, max: NaN} : {sum, min, max};
}

describe.skipIf(!haveCorpus)('nifti corpus (expected.json from NiBabel)', () => {
  it('lists both readable and unreadable files', () => {
    expect(readable.length).toBeGreaterThan(5);
    expect(unreadable.length).toBeGreaterThan(0);
  });

  it.each(readable)('%s agrees with NiBabel', async (name, e) => {
    const vol = await readNifti(path.join(corpus, name));
    const h = vol.header;
    expect(h.version).toBe(e.nifti_version);
    expect(h.littleEndian).toBe(e.endianness === 'little');
    expect(h.shape).toEqual(e.shape);
    h.voxelSize.forEach((z, i) => closeTo(z, e.zooms![i], 1e-6));
    expect(h.datatypeCode).toBe(e.datatype_code);
    expect(h.qformCode).toBe(e.qform_code);
    expect(h.sformCode).toBe(e.sform_code);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(Math.abs(h.affine[r][c] - e.affine![r][c])).toBeLessThanOrEqual(1e-5);
    expect(vol.data.length).toBe(e.shape!.slice(0, 3).reduce((a, b) => a * b, 1));
    const f = e.first_volume_scaled!;
    const s = stats(vol.data);
    closeTo(s.sum, f.sum);
    closeTo(s.min, f.min);
    closeTo(s.max, f.max);
    closeTo(vol.data[0], f.at_0_0_0);
    closeTo(vol.data[vol.data.length - 1], f.at_last);
  });

  it.each(readable)('%s header alone matches the full read', async (name) => {
    const h = await readNiftiHeader(path.join(corpus, name));
    expect(h).toEqual((await readNifti(path.join(corpus, name))).header);
  });

  const codeFor: Record<string, string> = {Spm2AnalyzeImage: 'not_nifti', AnalyzeImage: 'not_nifti', Nifti1Pair: 'missing_image'};
  it.each(unreadable)('%s gives a typed error', async (name, e) => {
    const err = await readNifti(path.join(corpus, name)).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NiftiError);
    expect((err as NiftiError).code).toBe(codeFor[e.reason!]);
    expect((err as NiftiError).message).toContain(name);
  });
});
