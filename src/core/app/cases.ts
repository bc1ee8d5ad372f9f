// Case views for the UI: a dataset case (image + label) and an evaluated case (image, reference, prediction).
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import type {Axis, CaseView, MaskVolume} from './types.js';
import {discoverDataset} from '../analyze/index.js';
import {CONTRACT} from '../generated/contract.js';
import {readNifti, type NiftiVolume} from '../nifti/index.js';
import {colourPalette, extractSlice, planeAxis, renderSliceHalfBlocks} from '../render/index.js';

const RUN = CONTRACT.run_folder;

interface Layer {
  name: string;
  vol: NiftiVolume;
}

function sameGrid(image: NiftiVolume, layer: Layer, file: string): void {
  const a = image.header.shape.slice(0, 3).join('x');
  const b = layer.vol.header.shape.slice(0, 3).join('x');
  if (a !== b) throw new Error(`${file}: ${layer.name} is ${b} voxels but the image is ${a}`);
}

/** Voxel data is x fastest, so the volume is a C-order [z, y, x] array as is. */
function asMask(vol: NiftiVolume): MaskVolume {
  const [x, y, z] = vol.header.shape;
  const [sx, sy, sz] = vol.header.voxelSize;
  return {data: vol.data, shape: [z ?? 1, y ?? 1, x ?? 1], spacing: [sz ?? 1, sy ?? 1, sx ?? 1]};
}

export function caseView(name: string, image: NiftiVolume, layers: Layer[], env: NodeJS.ProcessEnv, note?: string): CaseView {
  const orientation = image.header.orientation;
  return {
    name,
    layers: layers.map((l) => l.name),
    note,
    slices: (axis: Axis) => image.header.shape[planeAxis(orientation, axis)] ?? 1,
    legend: (colour: boolean) => {
      if (layers.length === 2) return colour ? `${layers[0].name} red · ${layers[1].name} cyan` : `o ${layers[0].name} only · x ${layers[1].name} only · # both`;
      return layers.length ? `${layers[0].name} ${colour ? 'red' : '#'}` : '';
    },
    render(axis, index, opts) {
      const slice = extractSlice(image, axis, index);
      const over = opts.overlay ? layers.map((l) => extractSlice(l.vol, axis, index).data) : [];
      return renderSliceHalfBlocks({
        slice: slice.data, width: slice.width, height: slice.height, aspect: slice.pixelAspect,
        label: over[0], label2: over[1],
        cols: Math.max(1, opts.cols), maxRows: Math.max(1, opts.rows), color: opts.colour, palette: colourPalette(env),
      });
    },
    mask: (layer: string) => {
      const found = layers.find((l) => l.name === layer);
      return found ? asMask(found.vol) : null;
    },
  };
}

async function findPair(root: string, name: string): Promise<{image: string; label: string}> {
  const found = await discoverDataset(root);
  const pair = found.pairs.find((p) => p.name === name);
  if (!pair) throw new Error(`${root}: no case named ${name}`);
  return {image: path.join(found.root, pair.image), label: path.join(found.root, pair.label)};
}

export async function openDatasetCase(root: string, name: string, env: NodeJS.ProcessEnv): Promise<CaseView> {
  const {image, label} = await findPair(root, name);
  const [img, lab] = await Promise.all([readNifti(image), readNifti(label)]);
  const layer = {name: 'label', vol: lab};
  sameGrid(img, layer, label);
  return caseView(name, img, [layer], env);
}

/** The dataset an evaluation used: eval/summary.json says, else the run's config. */
function evalDataRoot(runDir: string): string {
  for (const [file, pick] of [
    [RUN.eval_summary, (j: any) => j?.data],
    [RUN.config, (j: any) => j?.data?.root],
  ] as const) {
    try {
      const root = pick(JSON.parse(readFileSync(path.join(runDir, file), 'utf8')));
      if (typeof root === 'string' && root) return root;
    } catch {
      // not there or not JSON: try the next
    }
  }
  throw new Error(`${runDir}: neither ${RUN.eval_summary} nor ${RUN.config} names the dataset`);
}

export async function evalCaseView(runDir: string, name: string, env: NodeJS.ProcessEnv): Promise<CaseView> {
  const {image, label} = await findPair(evalDataRoot(runDir), name);
  // The evaluation keeps each case's prediction under its own name (CONTRACT.run_folder.eval_predictions).
  const candidates = [path.join(runDir, RUN.eval_predictions, `${name}${RUN.prediction_suffix}.nii.gz`)];
  const predFile = candidates.find((f) => existsSync(f));
  const [img, ref, pred] = await Promise.all([readNifti(image), readNifti(label), predFile ? readNifti(predFile) : null]);
  const layers: Layer[] = [{name: 'reference', vol: ref}];
  sameGrid(img, layers[0], label);
  if (pred) {
    layers.push({name: 'prediction', vol: pred});
    sameGrid(img, layers[1], predFile!);
  }
  const note = pred ? undefined : `no saved prediction (looked for ${candidates[0]})`;
  return caseView(name, img, layers, env, note);
}
