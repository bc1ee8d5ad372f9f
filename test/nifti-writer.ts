// Test helper: hand-built NIfTI-1/-2 files in either byte order (the layout of nifti1.h / nifti2.h).
import {gzipSync} from 'node:zlib';

export type Dt = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64' | 'complex64';
const CODES: Record<Dt, [number, number]> = {
  uint8: [2, 1], int8: [256, 1], int16: [4, 2], uint16: [512, 2], int32: [8, 4], uint32: [768, 4], float32: [16, 4], float64: [64, 8], complex64: [32, 8],
};

export interface NiftiSpec {
  version?: 1 | 2;
  littleEndian?: boolean;
  shape: number[];
  datatype?: Dt;
  values?: number[]; // raw stored values, x fastest; default 0..n-1
  pixdim?: number[]; // pixdim[1..]
  qfac?: number;
  slope?: number;
  inter?: number;
  qformCode?: number;
  sformCode?: number;
  quatern?: [number, number, number];
  qoffset?: [number, number, number];
  srow?: number[][];
  pair?: boolean;
  /** override dim[0] (e.g. to claim more dims than given) */
  ndim?: number;
  magic?: string;
  voxOffset?: number;
}

function writeValue(view: DataView, off: number, dt: Dt, v: number, le: boolean): void {
  switch (dt) {
    case 'uint8': view.setUint8(off, v); break;
    case 'int8': view.setInt8(off, v); break;
    case 'int16': view.setInt16(off, v, le); break;
    case 'uint16': view.setUint16(off, v, le); break;
    case 'int32': view.setInt32(off, v, le); break;
    case 'uint32': view.setUint32(off, v, le); break;
    case 'float32': view.setFloat32(off, v, le); break;
    case 'float64': view.setFloat64(off, v, le); break;
    case 'complex64': view.setFloat32(off, v, le); view.setFloat32(off + 4, 0, le); break;
  }
}

/** Header bytes and image bytes; a single file is `concat(header, image)` with the header padded to vox_offset. */
export function buildNifti(spec: NiftiSpec): {header: Uint8Array; image: Uint8Array} {
  const version = spec.version ?? 1;
  const le = spec.littleEndian ?? true;
  const dt = spec.datatype ?? 'int16';
  const [code, size] = CODES[dt];
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const values = spec.values ?? Array.from({length: count}, (_, i) => i);
  const hsize = version === 1 ? 348 : 540;
  const offset = spec.voxOffset ?? (spec.pair ? 0 : version === 1 ? 352 : 544);
  const header = new Uint8Array(spec.pair ? hsize : Math.max(offset, hsize + 4));
  const v = new DataView(header.buffer);
  const pixdim = [spec.qfac ?? 1, ...(spec.pixdim ?? spec.shape.map(() => 1))];
  while (pixdim.length < 8) pixdim.push(1);
  const dims = [spec.ndim ?? spec.shape.length, ...spec.shape];
  while (dims.length < 8) dims.push(1);
  const q = spec.quatern ?? [0, 0, 0];
  const qo = spec.qoffset ?? [0, 0, 0];
  const srow = spec.srow ?? [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]];
  const ascii = (off: number, s: string) => [...s].forEach((c, i) => v.setUint8(off + i, c.charCodeAt(0)));
  v.setInt32(0, hsize, le);
  if (version === 1) {
    dims.forEach((d, i) => v.setInt16(40 + 2 * i, d, le));
    v.setInt16(70, code, le);
    v.setInt16(72, size * 8, le);
    pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, le));
    v.setFloat32(108, offset, le);
    v.setFloat32(112, spec.slope ?? 0, le);
    v.setFloat32(116, spec.inter ?? 0, le);
    v.setInt16(252, spec.qformCode ?? 0, le);
    v.setInt16(254, spec.sformCode ?? 0, le);
    q.forEach((x, i) => v.setFloat32(256 + 4 * i, x, le));
    qo.forEach((x, i) => v.setFloat32(268 + 4 * i, x, le));
    srow.forEach((row, r) => row.forEach((x, c) => v.setFloat32(280 + 16 * r + 4 * c, x, le)));
    ascii(344, spec.magic ?? (spec.pair ? 'ni1\0' : 'n+1\0'));
  } else {
    ascii(4, spec.magic ?? (spec.pair ? 'ni2\0\r\n\x1a\n' : 'n+2\0\r\n\x1a\n'));
    v.setInt16(12, code, le);
    v.setInt16(14, size * 8, le);
    dims.forEach((d, i) => v.setBigInt64(16 + 8 * i, BigInt(d), le));
    pixdim.forEach((p, i) => v.setFloat64(104 + 8 * i, p, le));
    v.setBigInt64(168, BigInt(offset), le);
    v.setFloat64(176, spec.slope ?? 0, le);
    v.setFloat64(184, spec.inter ?? 0, le);
    v.setInt32(344, spec.qformCode ?? 0, le);
    v.setInt32(348, spec.sformCode ?? 0, le);
    q.forEach((x, i) => v.setFloat64(352 + 8 * i, x, le));
    qo.forEach((x, i) => v.setFloat64(376 + 8 * i, x, le));
    srow.forEach((row, r) => row.forEach((x, c) => v.setFloat64(400 + 32 * r + 8 * c, x, le)));
  }
  const image = new Uint8Array(values.length * size);
  const iv = new DataView(image.buffer);
  values.forEach((x, i) => writeValue(iv, i * size, dt, x, le));
  return {header, image};
}

export function niftiBytes(spec: NiftiSpec): Uint8Array {
  const {header, image} = buildNifti(spec);
  const out = new Uint8Array(header.length + image.length);
  out.set(header);
  out.set(image, header.length);
  return out;
}

export function niftiGz(spec: NiftiSpec): Uint8Array {
  return new Uint8Array(gzipSync(niftiBytes(spec)));
}
