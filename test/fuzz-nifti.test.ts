// Seeded fuzzing: mutated headers and bodies must end in a volume or a NiftiError, never another exception or a hang.
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {gunzipSync, gzipSync} from 'node:zlib';
import {afterAll, describe, expect, it} from 'vitest';
import {NiftiError, readNifti, readNiftiBytes} from '../src/core/nifti/index.js';
import {niftiBytes} from './nifti-writer.js';
import {mulberry32} from './helpers/prng.js';

const CASES = 10_000;
const FILE_EVERY = 25; // every 25th case also goes through a real file
const MAX_BYTES = 32 << 20; // bounds what any one case may allocate
const MAX_SEED_BYTES = 256 << 10;


const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpus = path.resolve(repoRoot, '..', 'shared', 'data', 'nifti-corpus');

function seeds(): {name: string; bytes: Uint8Array}[] {
  const out = [
    {name: 'n1-le-int16', bytes: niftiBytes({shape: [6, 5, 4], datatype: 'int16', slope: 2, inter: 1, qformCode: 1, quatern: [0.1, 0.2, 0.3]})},
    {name: 'n1-be-float32', bytes: niftiBytes({littleEndian: false, shape: [5, 4, 3, 2], datatype: 'float32', sformCode: 1})},
    {name: 'n2-le-uint8', bytes: niftiBytes({version: 2, shape: [7, 3, 2], datatype: 'uint8'})},
    {name: 'n2-be-float64', bytes: niftiBytes({version: 2, littleEndian: false, shape: [3, 3, 3], datatype: 'float64', qformCode: 2})},
    {name: 'n1-uint32', bytes: niftiBytes({shape: [4, 4, 2], datatype: 'uint32', voxOffset: 400})},
  ];
  if (existsSync(corpus)) {
    for (const f of readdirSync(corpus).sort()) {
      if (!/\.(nii|nii\.gz|hdr)$/.test(f)) continue;
      const raw = readFileSync(path.join(corpus, f));
      const bytes = f.endsWith('.gz') ? gunzipSync(raw) : raw;
      if (bytes.length <= MAX_SEED_BYTES) out.push({name: f, bytes: new Uint8Array(bytes)});
    }
  } else {
    console.log(`fuzz seeds: synthetic only (${corpus} is absent)`);
  }
  return out;
}

// Offsets of NIfTI-1 and NIfTI-2 header fields worth hitting with boundary values.
const FIELDS_N1 = [0, 40, 42, 44, 46, 48, 70, 72, 76, 80, 84, 88, 108, 112, 116, 252, 254, 256, 260, 264, 280, 344];
const FIELDS_N2 = [0, 4, 12, 14, 16, 24, 32, 40, 48, 104, 112, 120, 128, 168, 176, 184, 344, 348, 352, 400];
const INTERESTING = [0, -1, 1, 2, 3, 4, 5, 7, 8, 16, 64, 255, 256, 348, 352, 540, 544, 32767, -32768, 65535, 2 ** 31 - 1, -(2 ** 31), NaN, Infinity, -Infinity, 1e38, 1e-38];

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const pick = <T,>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  let b: Uint8Array = src.slice();
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const r = rnd();
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (r < 0.35) {
      const i = Math.floor(rnd() * Math.min(b.length, 560));
      b[i] ^= 1 << Math.floor(rnd() * 8);
    } else if (r < 0.7) {
      const off = pick(rnd() < 0.5 ? FIELDS_N1 : FIELDS_N2);
      const val = pick(INTERESTING);
      const le = rnd() < 0.5;
      const kind = Math.floor(rnd() * 5);
      try {
        if (kind === 0) view.setInt16(off, Number.isFinite(val) ? val : 0, le);
        else if (kind === 1) view.setInt32(off, Number.isFinite(val) ? val : 0, le);
        else if (kind === 2) view.setFloat32(off, val, le);
        else if (kind === 3) view.setFloat64(off, val, le);
        else view.setBigInt64(off, BigInt(Number.isFinite(val) ? Math.trunc(val) : 2 ** 40), le);
      } catch {
        // field past the end of a short file: leave it
      }
    } else if (r < 0.8) {
      b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    } else if (r < 0.9) {
      b = b.slice(0, Math.floor(rnd() * b.length));
    } else {
      const extra = new Uint8Array(Math.floor(rnd() * 64)).map(() => Math.floor(rnd() * 256));
      const joined = new Uint8Array(b.length + extra.length);
      joined.set(b);
      joined.set(extra, b.length);
      b = joined;
    }
    if (b.length === 0) break;
  }
  if (rnd() < 0.15) {
    // Some gzipped intact, some gzipped and then damaged.
    let gz = new Uint8Array(gzipSync(b, {level: 1}));
    if (rnd() < 0.5) {
      gz = gz.slice();
      if (rnd() < 0.5) gz = gz.slice(0, Math.floor(rnd() * gz.length));
      else for (let j = 0; j < 3; j++) gz[10 + Math.floor(rnd() * Math.max(1, gz.length - 10))] ^= 0xff;
    }
    b = gz;
  }
  return b;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'heartseg-fuzz-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

describe('fuzzed NIfTI input', () => {
  it(`${CASES} seeded mutations each end in a volume or a NiftiError`, async () => {
    const rnd = mulberry32(20250601);
    const pool = seeds();
    const outcomes: Record<string, number> = {};
    const unexpected: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const seed = pool[Math.floor(rnd() * pool.length)];
      const bytes = mutate(seed.bytes, rnd);
      const viaFile = i % FILE_EVERY === 0;
      const name = viaFile ? path.join(dir, `case${i}.nii`) : `case${i}<${seed.name}>`;
      if (viaFile) writeFileSync(name, bytes);
      try {
        const vol = viaFile ? await readNifti(name, {maxBytes: MAX_BYTES}) : await readNiftiBytes(bytes, name, {maxBytes: MAX_BYTES});
        const voxels = vol.header.shape.slice(0, 3).reduce((a, b) => a * b, 1);
        if (vol.data.length !== voxels) unexpected.push(`${name}: ${vol.data.length} values for shape ${vol.header.shape}`);
        outcomes.volume = (outcomes.volume ?? 0) + 1;
      } catch (e) {
        if (e instanceof NiftiError) outcomes[e.code] = (outcomes[e.code] ?? 0) + 1;
        else unexpected.push(`${name}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      }
    }
    expect(unexpected.slice(0, 10)).toEqual([]);
    // The mutations reach both outcomes and several error kinds, or the fuzzing is not exploring.
    expect(outcomes.volume).toBeGreaterThan(CASES / 20);
    expect(Object.keys(outcomes).length).toBeGreaterThan(5);
    console.log('fuzz outcomes', JSON.stringify(outcomes));
  });
});
