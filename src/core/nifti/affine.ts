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

/** pixdims for each dim with NiBabel's load-time fixes of the spatial ones: absolute values, 0 -> 1. */
export function zoomsOf(shape: number[], pixdim: number[]): number[] {
  return shape.map((_, i) => {
    const z = pixdim[i + 1] ?? 1;
    if (i >= 3) return z;
    return z === 0 ? 1 : Math.abs(z);
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
const EPS = 2.220446049250313e-16;

/** Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations: values and column vectors. */
function symmetricEigen(a: number[][]): {values: number[]; vectors: number[][]} {
  const m = a.map((row) => row.slice());
  const v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = m[0][1] ** 2 + m[0][2] ** 2 + m[1][2] ** 2;
    if (!(off > 1e-30 * (m[0][0] ** 2 + m[1][1] ** 2 + m[2][2] ** 2 + 1e-300))) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (m[p][q] === 0) continue;
      const theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const sn = t * c;
      for (let k = 0; k < 3; k++) {
        const mkp = m[k][p], mkq = m[k][q];
        m[k][p] = c * mkp - sn * mkq;
        m[k][q] = sn * mkp + c * mkq;
      }
      for (let k = 0; k < 3; k++) {
        const mpk = m[p][k], mqk = m[q][k];
        m[p][k] = c * mpk - sn * mqk;
        m[q][k] = sn * mpk + c * mqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p], vkq = v[k][q];
        v[k][p] = c * vkp - sn * vkq;
        v[k][q] = sn * vkp + c * vkq;
      }
    }
  }
  return {values: [m[0][0], m[1][1], m[2][2]], vectors: v};
}

/** The closest shear-free matrix to the column-normalised rotation part (polar decomposition), as NiBabel. */
function polarRotation(affine: Matrix4): number[][] {
  const rs = [0, 1, 2].map((r) => [0, 1, 2].map((c) => (Number.isFinite(affine[r][c]) ? affine[r][c] : 0)));
  for (let c = 0; c < 3; c++) {
    const norm = Math.hypot(rs[0][c], rs[1][c], rs[2][c]) || 1;
    for (let r = 0; r < 3; r++) rs[r][c] /= norm;
  }
  // RS = U S V^T  =>  R = U V^T = RS V S^-1 V^T over the singular values above tolerance.
  const ata = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rs[0][i] * rs[0][j] + rs[1][i] * rs[1][j] + rs[2][i] * rs[2][j]));
  const {values, vectors} = symmetricEigen(ata);
  const sigma = values.map((l) => Math.sqrt(Math.max(0, l)));
  const tol = Math.max(...sigma) * 3 * EPS;
  const inv = [0, 1, 2].map((i) => [0, 1, 2].map((j) => sigma.reduce((acc, sg, k) => (sg > tol ? acc + (vectors[i][k] * vectors[j][k]) / sg : acc), 0)));
  return [0, 1, 2].map((r) => [0, 1, 2].map((c) => rs[r][0] * inv[0][c] + rs[r][1] * inv[1][c] + rs[r][2] * inv[2][c]));
}

/**
 * Which world direction each voxel axis increases towards, e.g. "RAS" or "LPS": NiBabel's io_orientation
 * (polar decomposition, then strongest input axis first) and aff2axcodes; '?' for a degenerate axis.
 */
export function orientationCodes(affine: Matrix4): string {
  const R = polarRotation(affine);
  const strength = [0, 1, 2].map((c) => Math.max(...[0, 1, 2].map((r) => R[r][c] ** 2)));
  const order = [0, 1, 2].sort((a, b) => strength[b] - strength[a]); // stable: ties keep axis order
  const codes = ['?', '?', '?'];
  for (const c of order) {
    const col = [0, 1, 2].map((r) => R[r][c]);
    if (col.every((x) => Math.abs(x) <= 1e-8)) continue; // numpy.allclose(col, 0)
    let out = 0;
    for (let r = 1; r < 3; r++) if (Math.abs(col[r]) > Math.abs(col[out])) out = r;
    codes[c] = AXIS_LABELS[out][col[out] < 0 ? 1 : 0];
    for (let k = 0; k < 3; k++) R[out][k] = 0;
  }
  return codes.join('');
}
