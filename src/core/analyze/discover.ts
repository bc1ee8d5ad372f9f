// Finding image/label pairs: dataset.json's training list when there is one, else imagesTr/labelsTr by case name.
import {promises as fsp} from 'node:fs';
import path from 'node:path';
import type {Problem} from './types.js';

export interface CasePair {
  name: string;
  /** paths relative to the root */
  image: string;
  label: string;
}

export interface Discovery {
  root: string;
  name: string;
  labels: Record<string, string>;
  pairs: CasePair[];
  images: number;
  labelFiles: number;
  problems: Problem[];
}

const NIFTI_EXT = /\.nii(\.gz)?$/i;
const CHANNEL_SUFFIX = /_\d{4}$/;

export function caseName(file: string, isImage: boolean): string {
  const stem = path.basename(file).replace(NIFTI_EXT, '');
  return isImage ? stem.replace(CHANNEL_SUFFIX, '') : stem;
}

async function listNifti(dir: string): Promise<string[] | null> {
  try {
    const entries = await fsp.readdir(dir, {withFileTypes: true});
    return entries.filter((e) => !e.name.startsWith('.') && NIFTI_EXT.test(e.name) && !e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return null;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await fsp.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** dataset.json labels may map value -> name (Decathlon) or name -> value (nnU-Net v2); return value -> name. */
function normaliseLabels(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw || typeof raw !== 'object') return out;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number') out[String(v)] = k;
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'number') out[String(x)] = k;
  }
  return out;
}

interface DatasetJson {
  name?: unknown;
  labels?: unknown;
  training?: unknown;
  numTraining?: unknown;
}

export async function discoverDataset(rootArg: string): Promise<Discovery> {
  const root = path.resolve(rootArg);
  const problems: Problem[] = [];
  const result: Discovery = {root, name: path.basename(root), labels: {}, pairs: [], images: 0, labelFiles: 0, problems};
  try {
    if (!(await fsp.stat(root)).isDirectory()) {
      problems.push({file: '.', message: 'not a directory (expected a dataset folder with imagesTr/ and labelsTr/)'});
      return result;
    }
  } catch {
    problems.push({file: '.', message: 'no such directory'});
    return result;
  }
  let json: DatasetJson | null = null;
  const jsonPath = path.join(root, 'dataset.json');
  if (await exists(jsonPath)) {
    try {
      json = JSON.parse(await fsp.readFile(jsonPath, 'utf8')) as DatasetJson;
      if (typeof json.name === 'string' && json.name) result.name = json.name;
      result.labels = normaliseLabels(json.labels);
    } catch (e) {
      problems.push({file: 'dataset.json', message: `unreadable JSON (${(e as Error).message})`});
    }
  }
  const imageFiles = await listNifti(path.join(root, 'imagesTr'));
  const labelFiles = await listNifti(path.join(root, 'labelsTr'));
  if (imageFiles === null) problems.push({file: 'imagesTr', message: 'missing folder'});
  if (labelFiles === null) problems.push({file: 'labelsTr', message: 'missing folder'});
  const imgs = imageFiles ?? [];
  const labs = labelFiles ?? [];
  result.images = new Set(imgs.map((f) => caseName(f, true))).size;
  result.labelFiles = labs.length;

  const training = json && Array.isArray(json.training) ? json.training : null;
  if (training) await pairFromList(training, imgs, root, result);
  else pairByName(imgs, labs, result);
  if (json && typeof json.numTraining === 'number' && training && json.numTraining !== training.length) {
    problems.push({file: 'dataset.json', message: `numTraining is ${json.numTraining} but the training list has ${training.length} entries`});
  }
  return result;
}

function pairByName(imgs: string[], labs: string[], result: Discovery): void {
  const imageByCase = new Map<string, string>();
  for (const f of imgs) {
    const name = caseName(f, true);
    const channel = /_(\d{4})\.nii/i.exec(f)?.[1];
    // The first channel stands for the case; other channels only need to exist.
    if (!imageByCase.has(name) || channel === '0000') imageByCase.set(name, f);
  }
  const labelByCase = new Map<string, string>();
  for (const f of labs) {
    const name = caseName(f, false);
    if (labelByCase.has(name)) result.problems.push({file: `labelsTr/${f}`, message: `second label for case ${name} (also labelsTr/${labelByCase.get(name)})`});
    else labelByCase.set(name, f);
  }
  for (const [name, img] of imageByCase) {
    const lab = labelByCase.get(name);
    if (!lab) result.problems.push({file: `imagesTr/${img}`, message: `no label for case ${name} in labelsTr`});
    else result.pairs.push({name, image: `imagesTr/${img}`, label: `labelsTr/${lab}`});
  }
  for (const [name, lab] of labelByCase) {
    if (!imageByCase.has(name)) result.problems.push({file: `labelsTr/${lab}`, message: `no image for case ${name} in imagesTr`});
  }
}

function relativeEntry(value: unknown): string | null {
  if (typeof value !== 'string' || !value) return null;
  return path.posix.normalize(value.replace(/\\/g, '/')).replace(/^\.\//, '');
}

async function pairFromList(training: unknown[], imgs: string[], root: string, result: Discovery): Promise<void> {
  const listedCases = new Set<string>();
  for (const [i, entry] of training.entries()) {
    const e = (entry ?? {}) as {image?: unknown; label?: unknown};
    let image = relativeEntry(e.image);
    const label = relativeEntry(e.label);
    if (!image || !label) {
      result.problems.push({file: 'dataset.json', message: `training entry ${i} needs "image" and "label" paths`});
      continue;
    }
    // Decathlon lists images without the channel suffix that converted datasets carry on disk.
    if (!(await exists(path.join(root, image)))) {
      const withChannel = image.replace(NIFTI_EXT, (ext) => `_0000${ext}`);
      if (await exists(path.join(root, withChannel))) image = withChannel;
    }
    const name = caseName(label, false);
    listedCases.add(name);
    const imageOk = await exists(path.join(root, image));
    const labelOk = await exists(path.join(root, label));
    if (!imageOk) result.problems.push({file: image, message: 'listed in dataset.json but not found'});
    if (!labelOk) result.problems.push({file: label, message: 'listed in dataset.json but not found'});
    if (imageOk && labelOk) result.pairs.push({name, image, label});
  }
  for (const f of imgs) {
    if (!listedCases.has(caseName(f, true))) result.problems.push({file: `imagesTr/${f}`, message: 'not listed in dataset.json training'});
  }
}
