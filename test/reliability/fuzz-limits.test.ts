// Extends test/fuzz-nifti.test.ts where it only trusts the reader: seeded header mutations aimed at the size fields
// (dims, datatype, bitpix, vox_offset) must end in a volume or a NiftiError, and the memory each read allocates is
// measured against the limit it was given, for in-memory bytes and for files (gzip or not).
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {gunzipSync, gzipSync} from 'node:zlib';
import {afterAll, expect, it} from 'vitest';
import {NiftiError, readNifti, readNiftiBytes} from '../../src/core/nifti/index.js';
import {sharedDir} from '../helpers/bad-corpus.js';
import {niftiBytes} from '../nifti-writer.js';
import {mulberry32} from '../helpers/prng.js';

const CASES = 2_000;
const FILE_EVERY = 4;
const MAX_BYTES = 1 << 20; // the limit handed to the reader
const SLACK = 8 << 20; // the reader's streaming buffers (1 MiB read and inflate chunks), whatever the header claims


function seeds(): Uint8Array[] {
  const out = [
    niftiBytes({shape: [20, 16, 12], datatype: 'float32', sformCode: 1}),
    niftiBytes({littleEndian: false, shape: [9, 8, 7], datatype: 'int16', slope: 2, inter: 1, qformCode: 1}),
    niftiBytes({version: 2, shape: [10, 9, 8, 2], datatype: 'uint8'}),
  ];
  const corpus = path.join(sharedDir, 'data', 'nifti-corpus');
  if (existsSync(corpus)) {
    for (const f of readdirSync(corpus).filter(n => /\.nii(\.gz)?$/.test(n)).sort()) {
      const raw = readFileSync(path.join(corpus, f));
      out.push(new Uint8Array(f.endsWith('.gz') ? gunzipSync(raw) : raw));
    }
  } else {
    console.log(`fuzz-limits: synthetic seeds only (${corpus} is absent)`);
  }
  return out;
}

// [offset, bytes] of the size-bearing fields in NIfTI-1 and NIfTI-2 headers.
const N1 = [[40, 2], [42, 2], [44, 2], [46, 2], [48, 2], [50, 2], [70, 2], [72, 2], [108, 4]] as const;
const N2 = [[16, 8], [24, 8], [32, 8], [40, 8], [48, 8], [12, 2], [14, 2], [168, 8]] as const;
const VALUES = [0, -1, 1, 2, 3, 7, 8, 255, 4096, 32767, -32768, 65535, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, 2 ** 53];

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const b = src.slice();
  const view = new DataView(b.buffer);
  const n2 = view.getInt32(0, true) === 540 || view.getInt32(0, false) === 540;
  const le = view.getInt32(0, true) === 348 || view.getInt32(0, true) === 540;
  const fields = n2 ? N2 : N1;
  for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
    const [off, size] = fields[Math.floor(rnd() * fields.length)];
    const v = VALUES[Math.floor(rnd() * VALUES.length)];
    if (size === 2) view.setInt16(off, v, le);
    else if (size === 4) view.setFloat32(off, v, le);
    else view.setBigInt64(off, BigInt(v), le);
  }
  return b;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'hs-fuzz-limits-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

it(`${CASES} size-field mutations: typed errors only, and no read allocates beyond its limit`, async () => {
  const rnd = mulberry32(20250917);
  const pool = seeds();
  const outcomes: Record<string, number> = {};
  const unexpected: string[] = [];
  let worst = 0;
  for (let i = 0; i < CASES; i++) {
    let bytes = mutate(pool[Math.floor(rnd() * pool.length)], rnd);
    const viaFile = i % FILE_EVERY === 0;
    const gz = viaFile && rnd() < 0.5;
    const name = path.join(dir, `case${i}.nii${gz ? '.gz' : ''}`);
    if (viaFile) writeFileSync(name, gz ? gzipSync(bytes, {level: 1}) : bytes);
    const before = process.memoryUsage().arrayBuffers;
    try {
      const vol = viaFile ? await readNifti(name, {maxBytes: MAX_BYTES}) : await readNiftiBytes(bytes, name, {maxBytes: MAX_BYTES});
      worst = Math.max(worst, process.memoryUsage().arrayBuffers - before);
      if (vol.data.byteLength > MAX_BYTES) unexpected.push(`${name}: ${vol.data.byteLength} bytes of data over the limit`);
      outcomes.volume = (outcomes.volume ?? 0) + 1;
    } catch (e) {
      worst = Math.max(worst, process.memoryUsage().arrayBuffers - before);
      if (e instanceof NiftiError) outcomes[e.code] = (outcomes[e.code] ?? 0) + 1;
      else unexpected.push(`${name}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    }
    bytes = new Uint8Array(0);
  }
  console.log(`fuzz-limits outcomes ${JSON.stringify(outcomes)}; most allocated by one read: ${(worst / 2 ** 20).toFixed(2)} MiB`);
  expect(unexpected.slice(0, 10)).toEqual([]);
  expect(worst).toBeLessThanOrEqual(MAX_BYTES + SLACK);
  expect(outcomes.too_large).toBeGreaterThan(CASES / 20); // the size fields really were pushed past the limit
  expect(outcomes.volume).toBeGreaterThan(CASES / 50);
});
