// One case: read image and label, check they belong together, compute statistics and (optionally) centre slices.
import path from 'node:path';
import {isNiftiError, readNifti, readNiftiRaw, type NiftiHeader, type NiftiVolume} from '../nifti/index.js';
import {extractSlice, planeAxis, type Plane} from '../render/slice.js';
import {intensityStats, labelStats} from './stats.js';
import type {CaseResult, CaseTask, LabelVolume, Problem, SliceView} from './types.js';

const PLANES: Plane[] = ['axial', 'sagittal', 'coronal'];
const SPACING_TOLERANCE = 1e-3;
const AFFINE_TOLERANCE = 1e-3;

async function readOrProblem<T>(read: Promise<T>, rel: string, problems: Problem[]): Promise<T | null> {
  try {
    return await read;
  } catch (e) {
    problems.push({file: rel, message: isNiftiError(e) ? e.detail : `unexpected error: ${(e as Error).message}`});
    return null;
  }
}

/** A label map's values: the stored integers as they are (no float copy), scaled only if the header says so. */
interface LabelMap {
  header: NiftiHeader;
  data: ArrayLike<number>;
}

async function readLabel(file: string, maxBytes?: number): Promise<LabelMap> {
  const {header, raw} = await readNiftiRaw(file, {maxBytes});
  if (!header.scaled) return {header, data: raw};
  return {header, data: Float64Array.from(raw, (v) => v * header.sclSlope + header.sclInter)};
}

function sameGeometry(img: NiftiVolume, lab: LabelMap, labelFile: string, problems: Problem[]): boolean {
  const a = img.header, b = lab.header;
  const s3 = (s: number[]) => [s[0] ?? 1, s[1] ?? 1, s[2] ?? 1];
  if (s3(a.shape).join('x') !== s3(b.shape).join('x')) {
    problems.push({file: labelFile, message: `label shape ${s3(b.shape).join('x')} differs from image shape ${s3(a.shape).join('x')}`});
    return false;
  }
  const spacingOff = s3(a.voxelSize).some((v, i) => Math.abs(v - s3(b.voxelSize)[i]) > SPACING_TOLERANCE * Math.max(1, v));
  if (spacingOff) {
    problems.push({file: labelFile, message: `label spacing ${s3(b.voxelSize).join('x')} differs from image spacing ${s3(a.voxelSize).join('x')}`});
  } else if (a.affine.some((row, r) => row.some((v, c) => Math.abs(v - b.affine[r][c]) > AFFINE_TOLERANCE * Math.max(1, Math.abs(v))))) {
    problems.push({file: labelFile, message: 'label affine (position/orientation) differs from the image affine'});
  }
  return true;
}

/** Training needs one 3-D volume per file (a trailing axis of 1 is still 3-D); the problem, or null. */
export function shapeProblem(s: readonly number[]): string | null {
  if (s.length === 3 || (s.length === 4 && s[3] === 1)) return null;
  return `not a 3-D volume: shape ${s.join('x')} (each image and label must be one 3-D volume)`;
}

function notThreeD(v: {header: {shape: number[]}}, file: string, problems: Problem[]): boolean {
  const message = shapeProblem(v.header.shape);
  if (message) problems.push({file, message});
  return message !== null;
}

function centreSlices(img: NiftiVolume, lab: LabelMap, centre: [number, number, number]): SliceView[] {
  return PLANES.map((plane) => {
    const index = centre[planeAxis(img.header.orientation, plane)];
    const s = extractSlice(img, plane, index);
    const l = extractSlice({shape: img.header.shape, data: lab.data, spacing: img.header.voxelSize, orientation: img.header.orientation}, plane, index);
    const label = new Uint8Array(l.data.length);
    for (let i = 0; i < label.length; i++) label[i] = Math.max(0, Math.min(255, Math.round(l.data[i])));
    return {plane, index: s.index, width: s.width, height: s.height, pixelAspect: s.pixelAspect, data: s.data, label};
  });
}

export async function analyzeCase(task: CaseTask): Promise<CaseResult> {
  const problems: Problem[] = [];
  // One after the other: a worker holds one case's volumes at a time.
  const img = await readOrProblem(readNifti(path.join(task.root, task.image), {maxBytes: task.maxBytes}), task.image, problems);
  const lab = await readOrProblem(readLabel(path.join(task.root, task.label), task.maxBytes), task.label, problems);
  if (!img || !lab) return {analysis: null, problems};
  const flat = [notThreeD(img, task.image, problems), notThreeD(lab, task.label, problems)];
  if (flat.some(Boolean) || !sameGeometry(img, lab, task.label, problems)) return {analysis: null, problems};

  const h = img.header;
  const spacing = [h.voxelSize[0] ?? 1, h.voxelSize[1] ?? 1, h.voxelSize[2] ?? 1];
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  const ls = labelStats(lab.data, lab.header.shape);
  if (ls.nonInteger > 0) problems.push({file: task.label, message: `${ls.nonInteger} voxels hold non-integer label values`});
  const known = Object.keys(task.labels);
  if (known.length > 0) {
    const unknown = Object.keys(ls.counts).filter((v) => !known.includes(v));
    if (unknown.length > 0) problems.push({file: task.label, message: `label values ${unknown.join(', ')} are not in dataset.json labels`});
  }
  const intensity = intensityStats(img.data);
  if (intensity.nonFinite > 0) problems.push({file: task.image, message: `${intensity.nonFinite} voxels are NaN or infinite (training refuses the image)`});
  const labelVolumes: Record<string, LabelVolume> = {};
  for (const [v, n] of Object.entries(ls.counts)) labelVolumes[v] = {voxels: n, ml: n * voxelMl};
  const dims = [h.shape[0] ?? 1, h.shape[1] ?? 1, h.shape[2] ?? 1];
  const centre = (ls.centroid ?? dims.map((d) => (d - 1) / 2)).map(Math.round) as [number, number, number];
  const analysis = {
    name: task.name,
    image: task.image,
    label: task.label,
    shape: h.shape,
    spacing,
    orientation: h.orientation,
    datatype: h.datatype,
    labelDatatype: lab.header.datatype,
    intensity,
    labelVolumes,
    foreground: {voxels: ls.foreground, ml: ls.foreground * voxelMl, fraction: ls.foreground / lab.data.length},
    centre,
  };
  return {analysis, problems, slices: task.slices ? centreSlices(img, lab, centre) : undefined};
}
