// Voxel-to-world affine chosen as NiBabel chooses it, and orientation codes (nibabel's aff2axcodes).
export type Matrix4 = number[][];

export interface AffineFields {
  shape: number[]; // dims as stored
  pixdim: number[]; // pixdim[0..7] as stored
  qformCode: number;
  sformCode: number;
  quatern: [number, number, number]; // b, c, d
  qoffset: [number, number, number];
  srow: [number[], number[], number[]];
}

// NiBabel's xform code recoder: codes outside it are reset to 0 when a header is checked on load.
const VALID_XFORM_CODES = new Set([0, 1, 2, 3, 4, 5]);

export function validXformCode(code: number): number {
  return VALID_XFORM_CODES.has(code) ? code : 0;
}

function padded3(values: number[], fill: number): number[] {
  const out = values.slice(0, 3);
  while (out.length < 3) out.push(fill);
  return out;
}

function identity(): Matrix4 {
  return [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
}

/** pixdims for each dim with NiBabel's load-time fixes: absolute values, and 1 for a zero spatial one. */
export function zoomsOf(shape: number[], pixdim: number[]): number[] {
  return shape.map((_, i) => {
    const z = Math.abs(pixdim[i + 1] ?? 1);
    return i < 3 && z === 0 ? 1 : z;
  });
}

/** Fallback affine: diagonal zooms with x flipped, centred on the volume (NiBabel's get_base_affine). */
export function baseAffine(shape: number[], zooms: number[]): Matrix4 {
  const s = padded3(shape, 1);
  const z = padded3(zooms, 1);
  z[0] = -z[0];
  const a = identity();
  for (let i = 0; i < 3; i++) {
    a[i][i] = z[i];
    a[i][3] = -((s[i] - 1) / 2) * z[i];
  }
  return a;
}

/** Rotation matrix of the unit quaternion (w, x, y, z), normalised like NiBabel's quat2mat. */
function quatToMatrix(w: number, x: number, y: number, z: number): number[][] {
  const nq = w * w + x * x + y * y + z * z;
  if (!(nq >= 1e-15)) return [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const s = 2 / nq;
  const X = x * s, Y = y * s, Z = z * s;
  const wX = w * X, wY = w * Y, wZ = w * Z;
  const xX = x * X, xY = x * Y, xZ = x * Z;
  const yY = y * Y, yZ = y * Z, zZ = z * Z;
  return [
    [1 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1 - (xX + yY)],
  ];
}

export function qformAffine(f: AffineFields): Matrix4 {
  const [b, c, d] = f.quatern;
  let w2 = 1 - (b * b + c * c + d * d);
  // NiBabel zeroes w2 just below 0 and refuses it further below; clamping keeps a damaged header readable.
  if (!(w2 >= 0)) w2 = 0;
  const R = quatToMatrix(Math.sqrt(w2), b, c, d);
  const zooms = padded3(zoomsOf([1, 1, 1], f.pixdim), 1);
  const qfac = f.pixdim[0] === -1 ? -1 : 1; // NiBabel fixes any other pixdim[0] to 1
  zooms[2] *= qfac;
  const a = identity();
  for (let r = 0; r < 3; r++) {
    for (let c2 = 0; c2 < 3; c2++) a[r][c2] = R[r][c2] * zooms[c2];
    a[r][3] = f.qoffset[r];
  }
  return a;
}

export function sformAffine(f: AffineFields): Matrix4 {
  const a = identity();
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) a[r][c] = f.srow[r][c];
  return a;
}

/** sform when its code is set, else qform when its code is set, else the fallback from pixdims. */
export function bestAffine(f: AffineFields): Matrix4 {
  const a = validXformCode(f.sformCode) !== 0 ? sformAffine(f) : validXformCode(f.qformCode) !== 0 ? qformAffine(f) : baseAffine(f.shape, zoomsOf(f.shape.slice(0, 3), f.pixdim));
  return a.map((row) => row.map((v) => (v === 0 ? 0 : v))); // no -0 from sign flips
}

const AXIS_LABELS: [string, string][] = [['R', 'L'], ['A', 'P'], ['S', 'I']];

/**
 * Which world axis (and direction) each voxel axis points along, e.g. "RAS" or "LPS". Greedy on the
 * column-normalised rotation part; equals NiBabel's result for rotations and scalings, '?' for a degenerate axis.
 */
export function orientationCodes(affine: Matrix4): string {
  const m = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r][c]));
  for (let c = 0; c < 3; c++) {
    const norm = Math.hypot(m[0][c], m[1][c], m[2][c]);
    for (let r = 0; r < 3; r++) m[r][c] = norm > 0 && Number.isFinite(norm) ? m[r][c] / norm : 0;
  }
  const codes = ['?', '?', '?'];
  const usedRow = [false, false, false];
  const usedCol = [false, false, false];
  for (let step = 0; step < 3; step++) {
    let best = 0, bestR = -1, bestC = -1;
    for (let r = 0; r < 3; r++) {
      if (usedRow[r]) continue;
      for (let c = 0; c < 3; c++) {
        if (usedCol[c]) continue;
        const v = Math.abs(m[r][c]);
        if (v > best) { best = v; bestR = r; bestC = c; }
      }
    }
    if (bestR < 0) break;
    usedRow[bestR] = true;
    usedCol[bestC] = true;
    codes[bestC] = AXIS_LABELS[bestR][m[bestR][bestC] < 0 ? 1 : 0];
  }
  return codes.join('');
}
