// Random headers (seeded) read by us and by NiBabel: affine, zooms, orientation, scaled values must agree.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {afterAll, describe, expect, it} from 'vitest';
import {readNifti} from '../src/core/nifti/index.js';
import {niftiBytes, type Dt, type NiftiSpec} from './nifti-writer.js';
import {mulberry32} from './helpers/prng.js';
import {resolvePython} from '../src/core/python.js';

// The interpreter the CLI would use (flag, $HEARTSEG_PYTHON, the setup venv, python3).
const python = await resolvePython().then((r) => r.path).catch(() => 'python3');
const probe = await execa(python, ['-c', 'import nibabel, numpy'], {reject: false}).catch(() => ({exitCode: 1}));
const haveNibabel = probe.exitCode === 0;
if (!haveNibabel) console.log(`skipping NiBabel cross-check: no Python with nibabel at ${python}`);

const NIBABEL_SCRIPT = `
import json, sys, numpy as np, nibabel as nib
out = {}
for f in sys.argv[1:]:
    img = nib.load(f)
    d = np.asanyarray(img.dataobj).astype(np.float64)
    first = d[..., 0] if d.ndim == 4 else d
    out[f] = {"affine": img.affine.tolist(), "zooms": [float(z) for z in img.header.get_zooms()],
              "axcodes": "".join(nib.aff2axcodes(img.affine)), "values": first.reshape(-1, order="F").tolist()}
print(json.dumps(out))
`;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'heartseg-nib-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

describe.skipIf(!haveNibabel)('agreement with NiBabel on random headers', () => {
  it('200 seeded headers: versions, byte orders, codes, quaternions, qfac, pixdims, scaling', async () => {
    const rnd = mulberry32(7);
    const pick = <T,>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    const files: string[] = [];
    for (let i = 0; i < 200; i++) {
      const shape = [1 + Math.floor(rnd() * 4), 1 + Math.floor(rnd() * 4), 1 + Math.floor(rnd() * 3)];
      if (rnd() < 0.2) shape.push(2);
      const count = shape.reduce((a, b) => a * b, 1);
      // A random unit quaternion's (b, c, d), kept away from |bcd| = 1 where NiBabel refuses rounding below 0.
      let q = [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5];
      const norm = Math.hypot(...q) / (0.2 + 0.75 * rnd());
      q = q.map((x) => x / norm);
      const dt: Dt = pick(['uint8', 'int16', 'float32', 'float64', 'int8', 'uint16', 'int32']);
      const spec: NiftiSpec = {
        version: rnd() < 0.5 ? 1 : 2,
        littleEndian: rnd() < 0.5,
        shape,
        datatype: dt,
        values: Array.from({length: count}, (_, k) => (k * 13) % 100),
        pixdim: shape.map(() => pick([0.5, 1, 1.25, 2.5, -2, 0.625])),
        qfac: pick([1, -1, 0]),
        qformCode: pick([0, 1, 2, 4]),
        sformCode: pick([0, 0, 1, 3]),
        quatern: q as [number, number, number],
        qoffset: [rnd() * 100 - 50, rnd() * 100 - 50, rnd() * 100 - 50],
        srow: [0, 1, 2].map(() => [0, 1, 2, 3].map(() => Math.round((rnd() * 4 - 2) * 8) / 8)),
        slope: pick([0, 1, 2, 0.5, 0.1]),
        inter: pick([0, -1, 10.5]),
      };
      const file = path.join(tmp, `r${i}.nii`);
      writeFileSync(file, niftiBytes(spec));
      files.push(file);
    }
    const run = await execa(python, ['-c', NIBABEL_SCRIPT, ...files]);
    const theirs = JSON.parse(run.stdout);
    for (const f of files) {
      const ours = await readNifti(f);
      const t = theirs[f];
      const tag = path.basename(f);
      ours.header.affine.forEach((row, r) => row.forEach((v, c) => expect(Math.abs(v - t.affine[r][c]), `${tag} affine[${r}][${c}]`).toBeLessThanOrEqual(1e-5)));
      ours.header.voxelSize.forEach((z, k) => expect(z, `${tag} zoom ${k}`).toBeCloseTo(t.zooms[k], 6));
      expect(ours.header.orientation, tag).toBe(t.axcodes);
      Array.from(ours.data).forEach((v, k) => expect(Math.abs(v - t.values[k]), `${tag} value ${k}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(t.values[k]))));
    }
  });
});
