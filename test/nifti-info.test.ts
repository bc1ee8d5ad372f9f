// `heartseg info` handler: JSON against NiBabel's expected.json, text output, colour rules, usage errors.
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, describe, expect, it} from 'vitest';
import {runInfo} from '../src/commands/info.js';
import {niftiBytes} from './nifti-writer.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpus = path.resolve(repoRoot, '..', 'shared', 'data', 'nifti-corpus');
const haveCorpus = existsSync(path.join(corpus, 'expected.json'));

function capture(isTTY = false, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {stdout: {write: (s: string) => out.push(s)}, stderr: {write: (s: string) => err.push(s)}, isTTY, env},
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'heartseg-info-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));
const small = path.join(tmp, 'small.nii');
writeFileSync(small, niftiBytes({shape: [3, 2, 2], datatype: 'int16', values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], slope: 0.5, inter: 10, pixdim: [2, 2, 3]}));

describe('info text output', () => {
  it('summarises a header like fslhd, without colour off a terminal', async () => {
    const c = capture(false);
    expect(await runInfo([small], {...c.io, cwd: tmp})).toBe(0);
    expect(c.stdout().replace(small, 'SMALL')).toMatchInlineSnapshot(`
      "SMALL
        format       NIfTI-1, little-endian
        shape        3 x 2 x 2
        voxel size   2 x 2 x 3
        datatype     int16 (code 4)
        scaling      value * 0.5 + 10
        orientation  LAS  (affine from pixdims (no qform or sform); qform 0, sform 0)
        affine       [   -2     0     0     2 ]
                     [    0     2     0    -1 ]
                     [    0     0     3  -1.5 ]
                     [    0     0     0     1 ]
        value range  10 .. 15.5, mean 12.75

      "
    `);
    expect(c.stdout()).not.toContain('\x1b');
  });
  it('bold names on a terminal, none with NO_COLOR or --no-color', async () => {
    const tty = capture(true);
    await runInfo([small], tty.io);
    expect(tty.stdout()).toContain('\x1b[1m');
    const noColor = capture(true, {NO_COLOR: '1'});
    await runInfo([small], noColor.io);
    expect(noColor.stdout()).not.toContain('\x1b');
    const flag = capture(true);
    await runInfo([small, '--no-color'], flag.io);
    expect(flag.stdout()).not.toContain('\x1b');
  });
  it('usage: no file or an unknown flag is exit 2, --help exit 0', async () => {
    const none = capture();
    expect(await runInfo([], none.io)).toBe(2);
    expect(none.stderr()).toMatch(/missing FILE/);
    expect(await runInfo(['--bogus', small], capture().io)).toBe(2);
    const help = capture();
    expect(await runInfo(['--help'], help.io)).toBe(0);
    expect(help.stdout()).toMatch(/^Usage: heartseg info/);
  });
});

describe.skipIf(!haveCorpus)('info --json on the NIfTI corpus', () => {
  it('a 4-D series is shown but is bad input for heartseg: exit 2, one line naming it', async () => {
    const c = capture();
    const file = path.join(corpus, 'example4d.nii.gz');
    expect(await runInfo([file], {...c.io, cwd: corpus})).toBe(2);
    expect(c.stdout()).toContain('128'); // the header is still shown
    expect(c.stderr()).toBe(`heartseg info: ${file}: not a 3-D volume: shape 128x96x24x2 (each image and label must be one 3-D volume)\n`);
  });

  it('agrees with expected.json; unreadable files get typed errors and exit 2, the rest still printed', async () => {
    const expected = JSON.parse(readFileSync(path.join(corpus, 'expected.json'), 'utf8').replace(/\bNaN\b/g, 'null'));
    const files = readdirSync(corpus).filter((f) => expected[f]).sort();
    const c = capture();
    expect(await runInfo([...files, '--json'], {...c.io, cwd: corpus})).toBe(2);
    const {files: entries} = JSON.parse(c.stdout());
    expect(entries.map((e: {file: string}) => e.file)).toEqual(files);
    for (const e of entries) {
      const want = expected[e.file];
      expect(e.ok, e.file).toBe(want.readable_as_nifti);
      if (!e.ok) {
        expect(e.error.code).toBe(want.reason === 'Nifti1Pair' ? 'missing_image' : 'not_nifti');
        expect(c.stderr()).toContain(`heartseg info: ${path.join(corpus, e.file)}: `);
        continue;
      }
      expect(e.header.shape).toEqual(want.shape);
      e.header.voxel_size.forEach((z: number, i: number) => expect(z).toBeCloseTo(want.zooms[i], 6));
      expect([e.header.datatype_code, e.header.qform_code, e.header.sform_code]).toEqual([want.datatype_code, want.qform_code, want.sform_code]);
      e.header.affine.forEach((row: number[], r: number) => row.forEach((v, k) => expect(Math.abs(v - want.affine[r][k])).toBeLessThanOrEqual(1e-5)));
      const f = want.first_volume_scaled;
      if (f.min !== null) {
        expect(Math.abs(e.range.min - f.min)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(f.min)));
        expect(Math.abs(e.range.max - f.max)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(f.max)));
      } else {
        expect(e.range.non_finite).toBeGreaterThan(0);
      }
    }
  });
});
