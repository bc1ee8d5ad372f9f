// The reader on hand-built files: versions, byte orders, datatypes, scaling, affines, and every typed error.
import {mkdtempSync, rmSync, writeFileSync, mkdirSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {gzipSync} from 'node:zlib';
import {afterAll, describe, expect, it} from 'vitest';
import {NiftiError, readNifti, readNiftiHeader} from '../src/core/nifti/index.js';
import {buildNifti, niftiBytes, niftiGz, type Dt, type NiftiSpec} from './nifti-writer.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'heartseg-nifti-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));
let counter = 0;
function write(bytes: Uint8Array, name = `f${counter++}.nii`): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

async function errorOf(p: Promise<unknown>): Promise<NiftiError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(NiftiError);
  return e as NiftiError;
}

const VALUES: Record<Exclude<Dt, 'complex64'>, number[]> = {
  uint8: [0, 1, 127, 128, 254, 255, 3, 4, 5, 6, 7, 8],
  int8: [-128, -1, 0, 1, 127, 5, -5, 6, 7, 8, 9, 10],
  int16: [-32768, -1, 0, 1, 32767, 300, -300, 7, 8, 9, 10, 11],
  uint16: [0, 1, 65535, 256, 255, 40000, 6, 7, 8, 9, 10, 11],
  int32: [-2147483648, -1, 0, 1, 2147483647, 65536, -65536, 7, 8, 9, 10, 11],
  uint32: [0, 1, 4294967295, 65536, 16777217, 5, 6, 7, 8, 9, 10, 11],
  float32: [-1.5, 0, 1.5, 3.25, -1e30, 1e-30, 6, 7, 8, 9, 10, 11],
  float64: [-1.5, 0, 1.5, 3.25, -1e300, 1e-300, 0.1, 7, 8, 9, 10, 11],
};
const float32 = (x: number) => Math.fround(x);

describe('versions x byte orders x datatypes', () => {
  const cases = ([1, 2] as const).flatMap((version) =>
    [true, false].flatMap((le) => (Object.keys(VALUES) as (keyof typeof VALUES)[]).map((dt) => ({version, le, dt}))),
  );
  it.each(cases)('NIfTI-$version little-endian=$le $dt', async ({version, le, dt}) => {
    const file = write(niftiBytes({version, littleEndian: le, datatype: dt, shape: [3, 2, 2], values: VALUES[dt], pixdim: [1.5, 2, 2.5]}));
    const vol = await readNifti(file);
    expect(vol.header.version).toBe(version);
    expect(vol.header.littleEndian).toBe(le);
    expect(vol.header.datatype).toBe(dt);
    expect(vol.header.shape).toEqual([3, 2, 2]);
    expect(vol.header.voxelSize).toEqual([1.5, 2, 2.5]);
    const want = dt === 'float32' ? VALUES[dt].map(float32) : VALUES[dt];
    expect(Array.from(vol.data)).toEqual(want);
    expect(vol.data).toBeInstanceOf(['int32', 'uint32', 'float64'].includes(dt) ? Float64Array : Float32Array);
  });
});

describe('scaling', () => {
  it.each([
    {slope: 2, inter: -1, want: (v: number) => 2 * v - 1, scaled: true},
    {slope: 0, inter: 5, want: (v: number) => v, scaled: false}, // slope 0 means unscaled
    {slope: NaN, inter: 5, want: (v: number) => v, scaled: false},
    {slope: 1, inter: 0, want: (v: number) => v, scaled: false},
    {slope: 0.5, inter: 100, want: (v: number) => 0.5 * v + 100, scaled: true},
  ])('slope $slope inter $inter', async ({slope, inter, want, scaled}) => {
    const values = [0, 1, 2, 3, -4, 5, 6, 7];
    for (const version of [1, 2] as const) {
      const vol = await readNifti(write(niftiBytes({version, shape: [2, 2, 2], values, slope, inter})));
      expect(Array.from(vol.data)).toEqual(values.map(want));
      expect(vol.header.scaled).toBe(scaled);
      // Fractional scaling would lose digits in float32; integer scaling of int16 is exact in it.
      expect(vol.data).toBeInstanceOf(Number.isInteger(vol.header.sclSlope) && Number.isInteger(vol.header.sclInter) ? Float32Array : Float64Array);
    }
  });
});

describe('affine as NiBabel chooses it', () => {
  it('sform when sform_code > 0', async () => {
    const srow = [[0, 0, -3, 10], [2, 0, 0, -20], [0, 1.5, 0, 30]];
    const h = await readNiftiHeader(write(niftiBytes({shape: [2, 2, 2], sformCode: 2, qformCode: 1, quatern: [0, 0, 1], srow})));
    expect(h.affine).toEqual([...srow, [0, 0, 0, 1]]);
    expect(h.orientation).toBe('ASL');
  });
  it('qform when only qform_code > 0 (180 degrees about z, qfac -1)', async () => {
    for (const version of [1, 2] as const) {
      const h = await readNiftiHeader(
        write(niftiBytes({version, shape: [2, 2, 2], qformCode: 1, quatern: [0, 0, 1], qfac: -1, pixdim: [2, 3, 4], qoffset: [5, 6, 7]})),
      );
      expect(h.affine).toEqual([[-2, 0, 0, 5], [0, -3, 0, 6], [0, 0, -4, 7], [0, 0, 0, 1]]);
      expect(h.orientation).toBe('LPI');
    }
  });
  it('fallback from pixdims when neither code is set (x flipped, centred)', async () => {
    const h = await readNiftiHeader(write(niftiBytes({shape: [4, 5, 6], pixdim: [2, 3, 4]})));
    expect(h.affine).toEqual([[-2, 0, 0, 3], [0, 3, 0, -6], [0, 0, 4, -10], [0, 0, 0, 1]]);
    expect(h.orientation).toBe('LAS');
  });
  it('negative and zero spatial pixdims are fixed as NiBabel does on load (abs, 0 -> 1); time is kept', async () => {
    const h = await readNiftiHeader(write(niftiBytes({shape: [2, 2, 2, 3], pixdim: [-2, 0, 3, -1.5], qformCode: 1})));
    expect(h.voxelSize).toEqual([2, 1, 3, -1.5]);
    expect(h.affine).toEqual([[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]]);
  });
  it('an invalid sform code counts as 0, so the qform is used', async () => {
    const h = await readNiftiHeader(write(niftiBytes({shape: [2, 2, 2], sformCode: 9, qformCode: 1, pixdim: [1, 1, 1]})));
    expect(h.sformCode).toBe(0);
    expect(h.affine).toEqual([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]);
  });
});

describe('layouts', () => {
  it('reads only the first volume of a 4-D series', async () => {
    const vol = await readNifti(write(niftiBytes({shape: [2, 2, 2, 3], values: Array.from({length: 24}, (_, i) => i)})));
    expect(vol.header.shape).toEqual([2, 2, 2, 3]);
    expect(Array.from(vol.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
  it('converts big volumes in chunks without losing the boundaries (big-endian, scaled)', async () => {
    const count = 2048 * 2049; // just over one conversion chunk of 2^22 voxels
    const values = Array.from({length: count}, (_, i) => (i % 30011) - 15000);
    const vol = await readNifti(write(niftiBytes({littleEndian: false, shape: [2048, 2049, 1], values, slope: 2, inter: 1})));
    for (const i of [0, 1, (1 << 22) - 1, 1 << 22, count - 1]) expect(vol.data[i]).toBe(values[i] * 2 + 1);
  });
  it('honours a vox_offset past extension bytes', async () => {
    const vol = await readNifti(write(niftiBytes({shape: [2, 2, 1], values: [9, 8, 7, 6], voxOffset: 480})));
    expect(vol.header.voxOffset).toBe(480);
    expect(Array.from(vol.data)).toEqual([9, 8, 7, 6]);
  });
  it('.nii.gz reads the same as .nii, header alone too', async () => {
    const spec: NiftiSpec = {version: 2, littleEndian: false, shape: [5, 4, 3], datatype: 'float32', values: Array.from({length: 60}, (_, i) => i / 4)};
    const plain = await readNifti(write(niftiBytes(spec)));
    const gz = await readNifti(write(niftiGz(spec), 'x.nii.gz'));
    expect(Array.from(gz.data)).toEqual(Array.from(plain.data));
    expect(gz.header).toEqual(plain.header);
    expect(await readNiftiHeader(path.join(dir, 'x.nii.gz'))).toEqual(plain.header);
  });
  it('reads a .hdr/.img pair, plain and gzipped image', async () => {
    const {header, image} = buildNifti({pair: true, shape: [2, 2, 1], values: [1, 2, 3, 4]});
    write(header, 'pair.hdr');
    write(image, 'pair.img');
    expect(Array.from((await readNifti(path.join(dir, 'pair.hdr'))).data)).toEqual([1, 2, 3, 4]);
    const sub = path.join(dir, 'gzpair');
    mkdirSync(sub);
    writeFileSync(path.join(sub, 'p.hdr'), header);
    writeFileSync(path.join(sub, 'p.img.gz'), gzipSync(image));
    const vol = await readNifti(path.join(sub, 'p.hdr'));
    expect(vol.header.isPair).toBe(true);
    expect(Array.from(vol.data)).toEqual([1, 2, 3, 4]);
  });
});

describe('typed errors', () => {
  const table: {name: string; bytes: () => Uint8Array; code: string; match?: RegExp; opts?: {maxBytes?: number}}[] = [
    {name: 'five dimensions', bytes: () => niftiBytes({shape: [2, 2, 2, 2, 2]}), code: 'too_many_dims'},
    {name: 'dim[0] = 0', bytes: () => niftiBytes({shape: [2, 2, 2], ndim: 0}), code: 'bad_dims'},
    {name: 'dim[0] = 8', bytes: () => niftiBytes({shape: [2, 2, 2], ndim: 8}), code: 'bad_dims'},
    {name: 'a zero dim', bytes: () => niftiBytes({shape: [2, 0, 2]}), code: 'bad_dims'},
    {name: 'a negative dim', bytes: () => niftiBytes({shape: [2, -3, 2], values: []}), code: 'bad_dims'},
    {name: 'complex data', bytes: () => niftiBytes({shape: [2, 2, 2], datatype: 'complex64'}), code: 'unsupported_datatype', match: /complex64/},
    {name: 'absurd dims (30000^3)', bytes: () => niftiBytes({shape: [30000, 30000, 30000], values: []}), code: 'too_large'},
    {name: 'absurd NIfTI-2 dims', bytes: () => niftiBytes({version: 2, shape: [2 ** 40, 2, 2], values: []}), code: 'too_large'},
    {name: 'over a given maxBytes', bytes: () => niftiBytes({shape: [10, 10, 10]}), code: 'too_large', opts: {maxBytes: 1000}},
    {name: 'data cut short', bytes: () => niftiBytes({shape: [4, 4, 4]}).subarray(0, 400), code: 'truncated'},
    {name: 'header cut short', bytes: () => niftiBytes({shape: [4, 4, 4]}).subarray(0, 200), code: 'truncated'},
    {name: 'empty file', bytes: () => new Uint8Array(0), code: 'truncated'},
    {name: 'text', bytes: () => new TextEncoder().encode('hello, this is not an image at all'.repeat(20)), code: 'not_nifti'},
    {name: 'Analyze header', bytes: () => niftiBytes({shape: [2, 2, 2], magic: '\0\0\0\0'}), code: 'not_nifti', match: /Analyze/},
    {name: 'gzip of a cut file', bytes: () => gzipSync(niftiBytes({shape: [8, 8, 8]}).subarray(0, 600)), code: 'truncated'},
    {name: 'cut gzip stream', bytes: () => niftiGz({shape: [16, 16, 16], values: Array.from({length: 4096}, (_, i) => (i * 7919) % 30000)}).subarray(0, 300), code: 'truncated'},
    {name: 'garbage after a gzip header', bytes: () => Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8]), code: 'gzip'},
    {name: 'gzip bomb declaring 64 GB', bytes: () => gzipSync(Buffer.concat([niftiBytes({shape: [4000, 4000, 4000], datatype: 'uint8', values: []}), Buffer.alloc(1 << 20)])), code: 'too_large'},
  ];
  it.each(table)('$name -> $code', async ({bytes, code, match, opts}) => {
    const file = write(bytes());
    const e = await errorOf(readNifti(file, opts));
    expect(e.code).toBe(code);
    expect(e.file).toBe(file);
    expect(e.message).toContain(file);
    if (match) expect(e.message).toMatch(match);
  });

  it('a gzip bomb declaring a small image inflates only what the header needs', async () => {
    // 64 MiB of zeros after a 4x4x4 header: reading must stop after the 64 voxels.
    const bomb = gzipSync(Buffer.concat([niftiBytes({shape: [4, 4, 4], datatype: 'uint8'}), Buffer.alloc(64 << 20)]));
    const vol = await readNifti(write(bomb, 'bomb.nii.gz'));
    expect(vol.data.length).toBe(64);
    expect(vol.data[63]).toBe(63);
  });
  it('missing file, folder and pair image give io / missing_image', async () => {
    expect((await errorOf(readNifti(path.join(dir, 'nope.nii')))).code).toBe('io');
    expect((await errorOf(readNifti(dir))).code).toBe('io');
    const {header} = buildNifti({pair: true, shape: [2, 2, 2]});
    const hdr = write(header, 'lonely.hdr');
    expect((await errorOf(readNifti(hdr))).code).toBe('missing_image');
    expect((await errorOf(readNiftiHeader(hdr))).code).toBe('missing_image');
  });
});
