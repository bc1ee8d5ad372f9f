// NIfTI datatype codes the reader supports, and conversion of raw voxel bytes to scaled float arrays.
export type NiftiDatatype = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

export interface DatatypeInfo {
  name: NiftiDatatype;
  bytes: number;
}

export const SUPPORTED_DATATYPES: Record<number, DatatypeInfo> = {
  2: {name: 'uint8', bytes: 1},
  4: {name: 'int16', bytes: 2},
  8: {name: 'int32', bytes: 4},
  16: {name: 'float32', bytes: 4},
  64: {name: 'float64', bytes: 8},
  256: {name: 'int8', bytes: 1},
  512: {name: 'uint16', bytes: 2},
  768: {name: 'uint32', bytes: 4},
};

// Names of valid codes we refuse, so the error says what the file holds.
export const UNSUPPORTED_DATATYPE_NAMES: Record<number, string> = {
  0: 'none',
  1: 'binary (1 bit)',
  32: 'complex64',
  128: 'rgb24',
  1024: 'int64',
  1280: 'uint64',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

/**
 * Output element size: float64 where float32 would lose information (wide types, fractional scaling such as
 * slope 0.0754), float32 otherwise (integer scaling of 8/16-bit data, e.g. CT's inter -1024, stays exact).
 */
export function outputBytesFor(dt: NiftiDatatype, slope = 1, inter = 0): 4 | 8 {
  if (dt === 'float64' || dt === 'int32' || dt === 'uint32') return 8;
  return Number.isInteger(slope) && Number.isInteger(inter) ? 4 : 8;
}

const PLATFORM_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapInPlace(bytes: Uint8Array, size: number): void {
  const n = bytes.length - (bytes.length % size);
  if (size === 2) {
    for (let i = 0; i < n; i += 2) {
      const a = bytes[i];
      bytes[i] = bytes[i + 1];
      bytes[i + 1] = a;
    }
  } else if (size === 4) {
    for (let i = 0; i < n; i += 4) {
      const a = bytes[i];
      const b = bytes[i + 1];
      bytes[i] = bytes[i + 3];
      bytes[i + 1] = bytes[i + 2];
      bytes[i + 2] = b;
      bytes[i + 3] = a;
    }
  } else if (size === 8) {
    for (let i = 0; i < n; i += 8) {
      for (let j = 0; j < 4; j++) {
        const a = bytes[i + j];
        bytes[i + j] = bytes[i + 7 - j];
        bytes[i + 7 - j] = a;
      }
    }
  }
}

function typedView(dt: NiftiDatatype, buf: ArrayBuffer, offset: number, count: number): NativeArray {
  switch (dt) {
    case 'uint8': return new Uint8Array(buf, offset, count);
    case 'int8': return new Int8Array(buf, offset, count);
    case 'int16': return new Int16Array(buf, offset, count);
    case 'uint16': return new Uint16Array(buf, offset, count);
    case 'int32': return new Int32Array(buf, offset, count);
    case 'uint32': return new Uint32Array(buf, offset, count);
    case 'float32': return new Float32Array(buf, offset, count);
    case 'float64': return new Float64Array(buf, offset, count);
  }
}

function codeOf(dt: NiftiDatatype): number {
  for (const [code, info] of Object.entries(SUPPORTED_DATATYPES)) if (info.name === dt) return Number(code);
  throw new Error(`unknown datatype ${dt}`);
}

// Work on big volumes in slices of this many voxels, yielding to the event loop between them so a UI keeps drawing.
const CHUNK_VOXELS = 1 << 22;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export type NativeArray = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** Stored voxel values in the platform's byte order: swaps `raw` in place when needed (the buffer is the reader's). */
export async function nativeVoxels(raw: Uint8Array, dt: NiftiDatatype, littleEndian: boolean, count: number): Promise<NativeArray> {
  const size = SUPPORTED_DATATYPES[codeOf(dt)].bytes;
  let bytes = raw.subarray(0, count * size);
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice(); // typed arrays need aligned offsets
  if (size > 1 && littleEndian !== PLATFORM_LITTLE_ENDIAN) {
    for (let start = 0; start < count; start += CHUNK_VOXELS) {
      const end = Math.min(count, start + CHUNK_VOXELS);
      swapInPlace(bytes.subarray(start * size, end * size), size);
      if (end < count) await yieldToEventLoop();
    }
  }
  return typedView(dt, bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
}

/** Scaled float values: value * slope + inter (slope 1, inter 0 when unscaled); unscaled float data is returned as is. */
export async function toScaledFloat(src: NativeArray, dt: NiftiDatatype, slope: number, inter: number): Promise<Float32Array | Float64Array> {
  const unscaled = slope === 1 && inter === 0;
  if (unscaled && (src instanceof Float32Array || src instanceof Float64Array)) return src;
  const count = src.length;
  const out = outputBytesFor(dt, slope, inter) === 8 ? new Float64Array(count) : new Float32Array(count);
  for (let start = 0; start < count; start += CHUNK_VOXELS) {
    const end = Math.min(count, start + CHUNK_VOXELS);
    if (unscaled) out.set(src.subarray(start, end), start);
    else for (let i = start; i < end; i++) out[i] = src[i] * slope + inter;
    if (end < count) await yieldToEventLoop();
  }
  return out;
}
