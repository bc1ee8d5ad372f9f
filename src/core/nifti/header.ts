// Header bytes -> NiftiHeader: nifti-reader-js parses the fields; dims, scaling and affine follow NiBabel's rules.
import {NIFTI1, NIFTI2} from 'nifti-reader-js';
import {bestAffine, orientationCodes, validXformCode, zoomsOf, type AffineFields} from './affine.js';
import {SUPPORTED_DATATYPES, UNSUPPORTED_DATATYPE_NAMES, type NiftiDatatype} from './datatypes.js';
import {NiftiError} from './errors.js';

export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  /** dims as stored (x, y, z[, t]) */
  shape: number[];
  /** voxel sizes (absolute pixdims) for each dim, mm for x/y/z */
  voxelSize: number[];
  datatype: NiftiDatatype;
  datatypeCode: number;
  /** effective scaling: 1 and 0 when the header says unscaled (slope 0 or not finite) */
  sclSlope: number;
  sclInter: number;
  scaled: boolean;
  qformCode: number;
  sformCode: number;
  /** 4x4 voxel-to-world, rows */
  affine: number[][];
  /** e.g. "RAS": the world direction each voxel axis increases towards */
  orientation: string;
  /** byte offset of the voxels (in the .img for a pair) */
  voxOffset: number;
  description: string;
  /** header-only .hdr with a separate .img */
  isPair: boolean;
  xyztUnits: number;
}

export const NIFTI1_HEADER_BYTES = 348;
export const NIFTI2_HEADER_BYTES = 540;
/** Enough bytes to parse either version. */
export const HEADER_PROBE_BYTES = 544;

const MAGIC_N1_SINGLE = 'n+1';
const MAGIC_N1_PAIR = 'ni1';
const MAGIC_N2_SINGLE = 'n+2';
const MAGIC_N2_PAIR = 'ni2';

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end && i < bytes.length; i++) {
    if (bytes[i] === 0) break;
    s += String.fromCharCode(bytes[i]);
  }
  return s;
}

function toArrayBuffer(bytes: Uint8Array, n: number): ArrayBuffer {
  return bytes.slice(0, n).buffer as ArrayBuffer;
}

/** Which header this is, from sizeof_hdr in either byte order and the magic. */
export function sniffHeader(bytes: Uint8Array, file: string): {version: 1 | 2; littleEndian: boolean; pair: boolean} {
  if (bytes.length < 4) throw new NiftiError(bytes.length === 0 ? 'truncated' : 'not_nifti', file, bytes.length === 0 ? 'file is empty' : 'too short to be NIfTI');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true);
  const be = view.getInt32(0, false);
  const version = le === 348 || be === 348 ? 1 : le === 540 || be === 540 ? 2 : 0;
  if (version === 0) throw new NiftiError('not_nifti', file, 'not a NIfTI file (header size field is neither 348 nor 540)');
  const littleEndian = version === 1 ? le === 348 : le === 540;
  const need = version === 1 ? NIFTI1_HEADER_BYTES : NIFTI2_HEADER_BYTES;
  if (bytes.length < need) throw new NiftiError('truncated', file, `header truncated: ${bytes.length} of ${need} bytes`);
  const magic = version === 1 ? ascii(bytes, 344, 348) : ascii(bytes, 4, 8);
  if (version === 1 && magic !== MAGIC_N1_SINGLE && magic !== MAGIC_N1_PAIR) {
    throw new NiftiError('not_nifti', file, 'an Analyze 7.5 header, not NIfTI (no NIfTI magic); convert it to NIfTI first');
  }
  if (version === 2 && magic !== MAGIC_N2_SINGLE && magic !== MAGIC_N2_PAIR) {
    throw new NiftiError('not_nifti', file, 'not a NIfTI file (header size 540 but no NIfTI-2 magic)');
  }
  return {version, littleEndian, pair: magic === MAGIC_N1_PAIR || magic === MAGIC_N2_PAIR};
}

function int64(view: DataView, offset: number, le: boolean): number {
  return Number(view.getBigInt64(offset, le));
}

/** Parse a NIfTI-1 or NIfTI-2 header from its first bytes. Throws NiftiError for anything unusable. */
export function parseHeader(bytes: Uint8Array, file: string): NiftiHeader {
  const {version, littleEndian, pair} = sniffHeader(bytes, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let h: NIFTI1 | NIFTI2;
  let dims: number[];
  let voxOffset: number;
  let srow: [number[], number[], number[]];
  try {
    // Exactly the header's bytes: nifti-reader-js then skips extensions, which we do not need.
    if (version === 1) {
      h = new NIFTI1();
      h.readHeader(toArrayBuffer(bytes, NIFTI1_HEADER_BYTES));
      dims = h.dims.slice(0, 8);
      voxOffset = h.vox_offset;
      srow = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => view.getFloat32(280 + (r * 4 + c) * 4, littleEndian))) as typeof srow;
    } else {
      h = new NIFTI2();
      h.readHeader(toArrayBuffer(bytes, NIFTI2_HEADER_BYTES));
      // nifti-reader-js mis-assembles big-endian int64 fields; read them ourselves.
      dims = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => int64(view, 16 + i * 8, littleEndian));
      voxOffset = int64(view, 168, littleEndian);
      srow = h.affine.slice(0, 3).map((row) => row.slice(0, 4)) as typeof srow;
    }
  } catch (e) {
    throw new NiftiError('not_nifti', file, `unreadable NIfTI header (${(e as Error).message})`);
  }

  const ndim = dims[0];
  if (!(ndim >= 1 && ndim <= 7)) throw new NiftiError('bad_dims', file, `dim[0] is ${ndim}; it must be 1 to 7`);
  if (ndim > 4) {
    throw new NiftiError('too_many_dims', file, `${ndim} dimensions (${dims.slice(1, ndim + 1).join('x')}); at most 4 are supported`);
  }
  const shape = dims.slice(1, ndim + 1);
  const badDim = shape.findIndex((d) => !(Number.isSafeInteger(d) && d >= 1));
  if (badDim >= 0) throw new NiftiError('bad_dims', file, `dim[${badDim + 1}] is ${shape[badDim]}; every dimension must be at least 1`);

  const dtInfo = SUPPORTED_DATATYPES[h.datatypeCode];
  if (!dtInfo) {
    const known = UNSUPPORTED_DATATYPE_NAMES[h.datatypeCode];
    throw new NiftiError('unsupported_datatype', file, known ? `datatype ${known} (code ${h.datatypeCode}) is not supported` : `unknown datatype code ${h.datatypeCode}`);
  }

  const pixdim = h.pixDims.slice(0, 8).map((v) => (Number.isFinite(v) ? v : 0));
  // NiBabel: slope 0 or not finite means unscaled; a non-finite intercept with a valid slope counts as 0 here.
  const rawSlope = h.scl_slope;
  const scaled = Number.isFinite(rawSlope) && rawSlope !== 0;
  const sclSlope = scaled ? rawSlope : 1;
  const sclInter = scaled && Number.isFinite(h.scl_inter) ? h.scl_inter : 0;

  const minOffset = pair ? 0 : version === 1 ? 352 : 544;
  let offset = Math.floor(Number.isFinite(voxOffset) ? voxOffset : 0);
  if (offset < minOffset) offset = minOffset; // NiBabel raises too-low offsets of single files to the minimum

  const fields: AffineFields = {
    shape,
    pixdim,
    qformCode: h.qform_code,
    sformCode: h.sform_code,
    quatern: [h.quatern_b, h.quatern_c, h.quatern_d],
    qoffset: [h.qoffset_x, h.qoffset_y, h.qoffset_z],
    srow,
  };
  const affine = bestAffine(fields);
  return {
    version,
    littleEndian,
    shape,
    voxelSize: zoomsOf(shape, pixdim),
    datatype: dtInfo.name,
    datatypeCode: h.datatypeCode,
    sclSlope,
    sclInter,
    scaled: scaled && !(sclSlope === 1 && sclInter === 0),
    qformCode: validXformCode(h.qform_code),
    sformCode: validXformCode(h.sform_code),
    affine,
    orientation: orientationCodes(affine),
    voxOffset: offset,
    description: h.description.replace(/[^\x20-\x7e]/g, '').trim(),
    isPair: pair,
    xyztUnits: h.xyzt_units,
  };
}

export function bytesPerVoxel(h: NiftiHeader): number {
  return SUPPORTED_DATATYPES[h.datatypeCode].bytes;
}

/** Voxels in the first 3-D volume. */
export function volumeVoxels(h: NiftiHeader): number {
  return h.shape.slice(0, 3).reduce((a, b) => a * b, 1);
}
