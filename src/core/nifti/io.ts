// Bounded, asynchronous byte reading: a range of a plain file, or the first N inflated bytes of a gzip file.
import {createReadStream, promises as fsp} from 'node:fs';
import {Readable} from 'node:stream';
import {createGunzip} from 'node:zlib';
import {NiftiError} from './errors.js';

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

export interface Source {
  file: string;
  gzip: boolean;
  /** on-disk size in bytes */
  size: number;
  /** the content itself, for sources held in memory */
  bytes?: Uint8Array;
}

export function memorySource(file: string, bytes: Uint8Array): Source {
  return {file, gzip: bytes.length >= 2 && bytes[0] === GZIP_MAGIC_0 && bytes[1] === GZIP_MAGIC_1, size: bytes.length, bytes};
}

export async function openSource(file: string): Promise<Source> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(file, 'r');
    const st = await handle.stat();
    if (!st.isFile()) throw new NiftiError('io', file, 'not a regular file');
    const magic = new Uint8Array(2);
    const {bytesRead} = await handle.read(magic, 0, 2, 0);
    return {file, gzip: bytesRead === 2 && magic[0] === GZIP_MAGIC_0 && magic[1] === GZIP_MAGIC_1, size: st.size};
  } catch (e) {
    throw ioError(file, e);
  } finally {
    await handle?.close();
  }
}

export function ioError(file: string, e: unknown): NiftiError {
  if (e instanceof NiftiError) return e;
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
  return new NiftiError('io', file, why);
}

/**
 * `length` bytes starting at `start` of the (inflated) content, or fewer when `allowShort` and the content ends.
 * The output buffer is allocated once at `length`; inflating stops as soon as it is full, so a gzip bomb costs at
 * most `length` bytes of memory.
 */
export async function readRange(src: Source, start: number, length: number, allowShort = false): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got: number;
  if (src.gzip) {
    const input = src.bytes ? Readable.from([src.bytes]) : createReadStream(src.file, {highWaterMark: INFLATE_CHUNK});
    const r = await inflateRange(src.file, input, start, out);
    got = r.filled;
    // A header probe may keep what a truncated stream gave; the caller checks it has enough.
    if (r.error && !(allowShort && r.error.code === 'truncated')) throw r.error;
  } else if (src.bytes) {
    const part = src.bytes.subarray(Math.min(start, src.bytes.length), Math.min(start + length, src.bytes.length));
    out.set(part);
    got = part.length;
  } else {
    got = await fileRange(src.file, start, out);
  }
  if (got < length && !allowShort) {
    throw new NiftiError('truncated', src.file, `truncated: needs ${start + length} bytes of data, has ${start + got}`);
  }
  return got < length ? out.subarray(0, got) : out;
}

async function fileRange(file: string, start: number, out: Uint8Array): Promise<number> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(file, 'r');
    let filled = 0;
    while (filled < out.length) {
      const {bytesRead} = await handle.read(out, filled, out.length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled;
  } catch (e) {
    throw ioError(file, e);
  } finally {
    await handle?.close();
  }
}

const INFLATE_CHUNK = 1 << 20;

function inflateRange(file: string, input: Readable, start: number, out: Uint8Array): Promise<{filled: number; error: NiftiError | null}> {
  return new Promise((resolve) => {
    const gunzip = createGunzip({chunkSize: INFLATE_CHUNK});
    let pos = 0; // inflated bytes seen so far
    let filled = 0;
    let settled = false;
    const finish = (err: NiftiError | null) => {
      if (settled) return;
      settled = true;
      input.destroy();
      gunzip.destroy();
      resolve({filled, error: err});
    };
    gunzip.on('data', (chunk: Buffer) => {
      const chunkStart = pos;
      pos += chunk.length;
      if (pos <= start) return;
      const from = Math.max(0, start - chunkStart);
      const n = Math.min(chunk.length - from, out.length - filled);
      out.set(chunk.subarray(from, from + n), filled);
      filled += n;
      if (filled >= out.length) finish(null);
    });
    gunzip.on('end', () => finish(null));
    gunzip.on('error', (e: NodeJS.ErrnoException) => {
      // A stream that stops early is a truncated file; anything else is a damaged gzip stream.
      if (e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message)) {
        finish(new NiftiError('truncated', file, `truncated gzip stream after ${pos} bytes of data`));
      } else {
        finish(new NiftiError('gzip', file, `corrupt gzip data (${e.message})`));
      }
    });
    input.on('error', (e) => finish(ioError(file, e)));
    input.pipe(gunzip);
  });
}
