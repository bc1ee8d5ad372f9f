// The front's NIfTI reader: .nii / .nii.gz / .hdr+.img, NIfTI-1 and -2, both byte orders, scaled first volume.
import {promises as fsp} from 'node:fs';
import path from 'node:path';
import {nativeVoxels, outputBytesFor, toScaledFloat, type NativeArray} from './datatypes.js';
import {NiftiError} from './errors.js';
import {bytesPerVoxel, HEADER_PROBE_BYTES, parseHeader, volumeVoxels, type NiftiHeader} from './header.js';
import {memorySource, openSource, readRange, type Source} from './io.js';

export {NiftiError, isNiftiError, type NiftiErrorCode} from './errors.js';
export type {NiftiHeader} from './header.js';
export type {NiftiDatatype} from './datatypes.js';
export {orientationCodes} from './affine.js';

export interface NiftiVolume {
  header: NiftiHeader;
  /** scaled values of the FIRST 3-D volume, x fastest */
  data: Float32Array | Float64Array;
}

/** Stored values (unscaled) in their own type, e.g. a uint8 label map as a Uint8Array. */
export interface NiftiRawVolume {
  header: NiftiHeader;
  raw: NativeArray;
}

export interface ReadOptions {
  /** refuse files whose first volume would need more memory than this (raw + float copy); default 2 GiB */
  maxBytes?: number;
}

export const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;

interface Located {
  header: NiftiHeader;
  headerSource: Source;
  /** where the voxels live: the file itself, or the .img of a pair */
  imageSource: Source;
}

/** The .img (or .img.gz) next to a header-only .hdr; undefined when none exists. */
async function findPairImage(file: string): Promise<string | undefined> {
  const base = file.replace(/\.hdr(\.gz)?$/i, '');
  const candidates = base === file ? [`${file}.img`] : [`${base}.img`, `${base}.img.gz`, `${base}.IMG`];
  for (const c of candidates) {
    try {
      if ((await fsp.stat(c)).isFile()) return c;
    } catch {
      // not there; try the next name
    }
  }
  return undefined;
}

async function locate(file: string, memory?: Uint8Array): Promise<Located> {
  const headerSource = memory ? memorySource(file, memory) : await openSource(file);
  const probe = await readRange(headerSource, 0, HEADER_PROBE_BYTES, true);
  const header = parseHeader(probe, file);
  if (!header.isPair) return {header, headerSource, imageSource: headerSource};
  const img = memory ? undefined : await findPairImage(file);
  if (!img) throw new NiftiError('missing_image', file, 'header-only NIfTI pair without its image (.img) file');
  return {header, headerSource, imageSource: await openSource(img)};
}

export async function readNiftiHeader(file: string): Promise<NiftiHeader> {
  return (await locate(file)).header;
}

export async function readNifti(file: string, opts: ReadOptions = {}): Promise<NiftiVolume> {
  const {header, raw} = await readLocated(await locate(file), opts, false);
  return {header, data: await toScaledFloat(raw, header.datatype, header.sclSlope, header.sclInter)};
}

/** The first volume's stored values without scaling or float conversion (cheaper for integer label maps). */
export async function readNiftiRaw(file: string, opts: ReadOptions = {}): Promise<NiftiRawVolume> {
  return readLocated(await locate(file), opts, true);
}

/** The same reading from bytes in memory (.nii or .nii.gz content); `name` is used in errors. */
export async function readNiftiBytes(bytes: Uint8Array, name: string, opts: ReadOptions = {}): Promise<NiftiVolume> {
  const {header, raw} = await readLocated(await locate(name, bytes), opts, false);
  return {header, data: await toScaledFloat(raw, header.datatype, header.sclSlope, header.sclInter)};
}

async function readLocated({header, headerSource, imageSource}: Located, opts: ReadOptions, rawOnly: boolean): Promise<NiftiRawVolume> {
  const file = headerSource.file;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const count = volumeVoxels(header);
  const rawBytes = count * bytesPerVoxel(header);
  const needed = rawBytes + (rawOnly ? 0 : count * outputBytesFor(header.datatype, header.sclSlope, header.sclInter));
  if (!(needed <= maxBytes)) {
    throw new NiftiError('too_large', file, `${header.shape.join('x')} ${header.datatype} would need ${formatBytes(needed)}, over the ${formatBytes(maxBytes)} limit`);
  }
  const start = header.voxOffset;
  if (!imageSource.gzip) {
    // Uncompressed: the whole declared series must fit in the file, which costs only a stat.
    const series = header.shape.reduce((a, b) => a * b, 1) * bytesPerVoxel(header);
    if (imageSource.size < start + series) {
      throw new NiftiError('truncated', file, `truncated: header declares ${start + series} bytes, ${imageSource.file === file ? 'file' : path.basename(imageSource.file)} has ${imageSource.size}`);
    }
  }
  const bytes = await readRange(imageSource, start, rawBytes);
  return {header, raw: await nativeVoxels(bytes, header.datatype, header.littleEndian, count)};
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
