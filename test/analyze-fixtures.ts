// Test helper: tiny Decathlon-style datasets on disk with known voxel values.
import {mkdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {niftiGz, type NiftiSpec} from './nifti-writer.js';

export interface TinyCase {
  name: string;
  shape: [number, number, number];
  spacing?: [number, number, number];
  image: number[];
  label: number[];
  labelShape?: [number, number, number];
}

/** Image value at voxel i of case k: deterministic, distinct across cases. */
export function imageValues(n: number, k: number): number[] {
  return Array.from({length: n}, (_, i) => ((i * 37 + k * 11) % 101) / 10 - 2);
}

/** A label with `count` voxels of value `value` starting at voxel `start`. */
export function labelValues(n: number, parts: {value: number; start: number; count: number}[]): number[] {
  const out = new Array<number>(n).fill(0);
  for (const p of parts) for (let i = p.start; i < p.start + p.count; i++) out[i] = p.value;
  return out;
}

export function writeCase(root: string, c: TinyCase, opts: {channelSuffix?: boolean} = {}): void {
  mkdirSync(path.join(root, 'imagesTr'), {recursive: true});
  mkdirSync(path.join(root, 'labelsTr'), {recursive: true});
  const spacing = c.spacing ?? [1, 2, 0.5];
  const srow = [[spacing[0], 0, 0, 0], [0, spacing[1], 0, 0], [0, 0, spacing[2], 0]];
  const img: NiftiSpec = {shape: c.shape, datatype: 'float32', values: c.image, pixdim: spacing, sformCode: 1, srow};
  const labShape = c.labelShape ?? c.shape;
  const lab: NiftiSpec = {shape: labShape, datatype: 'uint8', values: c.label, pixdim: spacing, sformCode: 1, srow};
  writeFileSync(path.join(root, 'imagesTr', `${c.name}${opts.channelSuffix ? '_0000' : ''}.nii.gz`), niftiGz(img));
  writeFileSync(path.join(root, 'labelsTr', `${c.name}.nii.gz`), niftiGz(lab));
}

export function writeDatasetJson(root: string, names: string[], labels: Record<string, string>, extra: object = {}): void {
  const training = names.map((n) => ({image: `./imagesTr/${n}.nii.gz`, label: `./labelsTr/${n}.nii.gz`}));
  writeFileSync(path.join(root, 'dataset.json'), JSON.stringify({name: 'Tiny', labels, numTraining: names.length, training, ...extra}));
}
