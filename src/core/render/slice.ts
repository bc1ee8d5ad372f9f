// 2-D slices of a 3-D volume in display order (radiological: patient right on the left, anterior/superior on top).
import type {NiftiVolume} from '../nifti/index.js';

export type Plane = 'axial' | 'sagittal' | 'coronal';

export interface VolumeLike {
  shape: number[];
  data: ArrayLike<number>;
  /** voxel sizes; 1 mm when absent */
  spacing?: number[];
  /** orientation codes such as "RAS"; RAS when absent */
  orientation?: string;
}

export interface Slice {
  data: Float32Array;
  width: number;
  height: number;
  /** physical height / width of one pixel */
  pixelAspect: number;
  /** voxel axis held fixed, and the index used after clamping */
  axis: number;
  index: number;
}

const WORLD: Record<string, number> = {R: 0, L: 0, A: 1, P: 1, S: 2, I: 2};

/** Voxel axis that points along each world axis (R-L, A-P, S-I), filling gaps from a degenerate affine. */
export function worldToVoxelAxes(orientation: string): [number, number, number] {
  const out: number[] = [-1, -1, -1];
  for (let i = 0; i < 3; i++) {
    const w = WORLD[orientation[i] ?? '?'];
    if (w !== undefined && out[w] < 0) out[w] = i;
  }
  const free = [0, 1, 2].filter((i) => !out.includes(i));
  return out.map((v) => (v >= 0 ? v : free.shift()!)) as [number, number, number];
}

// For each plane: world axis held fixed, world axis (and direction letter it increases toward) along columns and rows.
const LAYOUT: Record<Plane, {fixed: number; col: [number, string]; row: [number, string]}> = {
  axial: {fixed: 2, col: [0, 'L'], row: [1, 'P']},
  coronal: {fixed: 1, col: [0, 'L'], row: [2, 'I']},
  sagittal: {fixed: 0, col: [1, 'P'], row: [2, 'I']},
};

/** The voxel axis a plane's slice index runs along. */
export function planeAxis(orientation: string, plane: Plane): number {
  return worldToVoxelAxes(orientation)[LAYOUT[plane].fixed];
}

function describe(vol: NiftiVolume | VolumeLike): {shape: number[]; data: ArrayLike<number>; spacing: number[]; orientation: string} {
  if ('header' in vol) return {shape: vol.header.shape, data: vol.data, spacing: vol.header.voxelSize, orientation: vol.header.orientation};
  return {shape: vol.shape, data: vol.data, spacing: vol.spacing ?? [1, 1, 1], orientation: vol.orientation ?? 'RAS'};
}

export function extractSlice(vol: NiftiVolume | VolumeLike, plane: Plane, index: number): Slice {
  const {shape, data, spacing, orientation} = describe(vol);
  const dims = [shape[0] ?? 1, shape[1] ?? 1, shape[2] ?? 1];
  const axes = worldToVoxelAxes(orientation);
  const layout = LAYOUT[plane];
  const fixedAxis = axes[layout.fixed];
  const colAxis = axes[layout.col[0]];
  const rowAxis = axes[layout.row[0]];
  const colFlip = orientation[colAxis] !== layout.col[1];
  const rowFlip = orientation[rowAxis] !== layout.row[1];
  const strides = [1, dims[0], dims[0] * dims[1]];
  const fixed = Math.min(dims[fixedAxis] - 1, Math.max(0, Math.round(index)));
  const width = dims[colAxis];
  const height = dims[rowAxis];
  const out = new Float32Array(width * height);
  const base = fixed * strides[fixedAxis];
  for (let r = 0; r < height; r++) {
    const vr = rowFlip ? height - 1 - r : r;
    const rowBase = base + vr * strides[rowAxis];
    for (let c = 0; c < width; c++) {
      const vc = colFlip ? width - 1 - c : c;
      out[r * width + c] = data[rowBase + vc * strides[colAxis]];
    }
  }
  const sx = spacing[colAxis] || 1;
  const sy = spacing[rowAxis] || 1;
  return {data: out, width, height, pixelAspect: sy / sx, axis: fixedAxis, index: fixed};
}
