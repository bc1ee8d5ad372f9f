// Bad-input corpus for the reliability tests: broken and unusable NIfTI files and datasets, derived at run time
// from real files (la2018, the NiBabel corpus) or, without ../shared, from `heartseg synth` output.
import {chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {gunzipSync, gzipSync} from 'node:zlib';
import {execa} from 'execa';
import {engineEnv} from '../../src/core/python.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = path.resolve(repoRoot, '..', 'shared');
const la2018 = path.join(sharedDir, 'data', 'la2018');
const niftiCorpus = path.join(sharedDir, 'data', 'nifti-corpus');

/** One NIfTI-1 file held uncompressed, with the header fields the corpus edits. */
export class Nifti1 {
  constructor(public bytes: Buffer) {
    if (this.view.getInt32(0, true) !== 348 && this.view.getInt32(0, false) !== 348) throw new Error('not a NIfTI-1 header');
  }

  get view(): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  get le(): boolean {
    return this.view.getInt32(0, true) === 348;
  }

  get dims(): number[] {
    const n = this.view.getInt16(40, this.le);
    return Array.from({length: n}, (_, i) => this.view.getInt16(42 + 2 * i, this.le));
  }

  get bytesPerVoxel(): number {
    return this.view.getInt16(72, this.le) / 8;
  }

  get datatype(): number {
    return this.view.getInt16(70, this.le);
  }

  get dataOffset(): number {
    return Math.max(352, Math.round(this.view.getFloat32(108, this.le)));
  }

  get header(): Buffer {
    return Buffer.from(this.bytes.subarray(0, this.dataOffset));
  }

  get data(): Buffer {
    return Buffer.from(this.bytes.subarray(this.dataOffset));
  }

  clone(): Nifti1 {
    return new Nifti1(Buffer.from(this.bytes));
  }

  /** dim[0] = dims.length, dim[1..] = dims, the rest 1 (no data change). */
  setDims(dims: number[]): this {
    const v = this.view;
    v.setInt16(40, dims.length, this.le);
    for (let i = 0; i < 7; i++) v.setInt16(42 + 2 * i, dims[i] ?? 1, this.le);
    return this;
  }

  setInt16(offset: number, value: number): this {
    this.view.setInt16(offset, value, this.le);
    return this;
  }

  /** Replace the voxel data (the header stays). */
  withData(data: Buffer): Nifti1 {
    return new Nifti1(Buffer.concat([this.header, data]));
  }

  /** Translate the qform and sform origins by `mm` along x. */
  shiftOrigin(mm: number): this {
    const v = this.view;
    v.setFloat32(268, v.getFloat32(268, this.le) + mm, this.le);
    v.setFloat32(292, v.getFloat32(292, this.le) + mm, this.le);
    return this;
  }

  /** A box [x0, x0+size) ... of the first volume, with the origin moved to the box's first voxel (sform rows). */
  crop(start: number[], size: number[]): Nifti1 {
    const [nx, ny] = this.dims;
    const b = this.bytesPerVoxel;
    const out = Buffer.alloc(size[0] * size[1] * size[2] * b);
    const src = this.data;
    for (let z = 0; z < size[2]; z++) {
      for (let y = 0; y < size[1]; y++) {
        const from = ((start[2] + z) * ny * nx + (start[1] + y) * nx + start[0]) * b;
        src.copy(out, (z * size[1] * size[0] + y * size[0]) * b, from, from + size[0] * b);
      }
    }
    const cropped = this.withData(out).setDims(size);
    const v = cropped.view;
    for (let r = 0; r < 3; r++) {
      const row = [0, 1, 2, 3].map(c => v.getFloat32(280 + 16 * r + 4 * c, this.le));
      const origin = row[0] * start[0] + row[1] * start[1] + row[2] * start[2] + row[3];
      v.setFloat32(280 + 16 * r + 12, origin, this.le);
      v.setFloat32(268 + 4 * r, origin, this.le); // qform and sform agree in the source files
    }
    return cropped;
  }

  /** Every voxel as a number (uint8, int16 or float32 sources). */
  values(): Float64Array {
    const d = this.data;
    const n = d.length / this.bytesPerVoxel;
    const out = new Float64Array(n);
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    for (let i = 0; i < n; i++) {
      if (this.datatype === 2) out[i] = v.getUint8(i);
      else if (this.datatype === 4) out[i] = v.getInt16(2 * i, this.le);
      else if (this.datatype === 16) out[i] = v.getFloat32(4 * i, this.le);
      else throw new Error(`datatype ${this.datatype} not handled by the corpus`);
    }
    return out;
  }

  /** The same volume stored as float32 (no scaling), so NaN and Inf can be written into it. */
  asFloat32(): Nifti1 {
    const values = this.values();
    const data = Buffer.alloc(values.length * 4);
    values.forEach((x, i) => (this.le ? data.writeFloatLE(x, 4 * i) : data.writeFloatBE(x, 4 * i)));
    const out = this.withData(data).setInt16(70, 16).setInt16(72, 32);
    out.view.setFloat32(112, 1, this.le);
    out.view.setFloat32(116, 0, this.le);
    return out;
  }

  /** Write `value` into voxel indices (float32 or uint8 volumes). */
  poke(indices: number[], value: number): this {
    const d = this.view;
    for (const i of indices) {
      if (this.datatype === 16) d.setFloat32(this.dataOffset + 4 * i, value, this.le);
      else if (this.datatype === 2) d.setUint8(this.dataOffset + i, value);
      else throw new Error(`poke: datatype ${this.datatype}`);
    }
    return this;
  }

  gz(): Buffer {
    return gzipSync(this.bytes, {level: 1});
  }
}

export function readNii(file: string): Buffer {
  const raw = readFileSync(file);
  return raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
}

export interface SourcePair {
  name: string;
  image: Nifti1;
  label: Nifti1;
}

export interface Sources {
  /** 'la2018' (cropped around the atrium) or 'synth' (heartseg synth) */
  origin: string;
  pairs: SourcePair[];
  labels: Record<string, string>;
  /** real awkward headers from the NiBabel corpus, when ../shared is present */
  corpus: {name: string; bytes: Buffer}[];
  /** why some inputs were not made */
  skipped: string[];
}

const CROP = [40, 40, 24];

function centroid(label: Nifti1): number[] {
  const [nx, ny, nz] = label.dims;
  const v = label.values();
  const sum = [0, 0, 0];
  let n = 0;
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    if (v[(z * ny + y) * nx + x] > 0) {
      sum[0] += x; sum[1] += y; sum[2] += z; n++;
    }
  }
  return n ? sum.map(s => Math.round(s / n)) : [nx / 2, ny / 2, nz / 2].map(Math.floor);
}

function la2018Pairs(count: number): SourcePair[] {
  const meta = JSON.parse(readFileSync(path.join(la2018, 'dataset.json'), 'utf8')) as {training: {image: string; label: string}[]};
  return meta.training.slice(0, count).map(entry => {
    const image = new Nifti1(readNii(path.join(la2018, entry.image)));
    const label = new Nifti1(readNii(path.join(la2018, entry.label)));
    const c = centroid(label);
    const start = c.map((v, i) => Math.max(0, Math.min(label.dims[i] - CROP[i], v - CROP[i] / 2)));
    return {name: path.basename(entry.image).replace(/\.nii(\.gz)?$/, ''), image: image.crop(start, CROP), label: label.crop(start, CROP)};
  });
}

async function synthPairs(python: string, env: NodeJS.ProcessEnv, dir: string, count: number): Promise<SourcePair[]> {
  const out = path.join(dir, 'synth-source');
  if (!existsSync(path.join(out, 'dataset.json'))) {
    await execa(python, ['-m', 'heartseg', 'synth', out, '--cases', String(count), '--seed', '3', '--shape', '16', '24', '24'],
      {env: engineEnv(env), extendEnv: false, cwd: dir, stdin: 'ignore'});
  }
  const meta = JSON.parse(readFileSync(path.join(out, 'dataset.json'), 'utf8')) as {training: {image: string; label: string}[]};
  return meta.training.map(e => ({
    name: path.basename(e.image).replace(/\.nii(\.gz)?$/, ''),
    image: new Nifti1(readNii(path.join(out, e.image))),
    label: new Nifti1(readNii(path.join(out, e.label))),
  }));
}

/** Real source files: la2018 and the NiBabel corpus when ../shared is present, else `heartseg synth` output. */
export async function loadSources(python: string, env: NodeJS.ProcessEnv, dir: string, count = 3): Promise<Sources> {
  const skipped: string[] = [];
  let pairs: SourcePair[];
  let origin: string;
  if (existsSync(path.join(la2018, 'dataset.json'))) {
    pairs = la2018Pairs(count);
    origin = 'la2018';
  } else {
    skipped.push(`la2018 is absent (${la2018}): sources are heartseg synth volumes`);
    pairs = await synthPairs(python, env, dir, count);
    origin = 'synth';
  }
  const corpus: Sources['corpus'] = [];
  for (const name of ['anatomical.nii', 'example_nifti2.nii.gz', 'someones_epi.nii.gz']) {
    const file = path.join(niftiCorpus, name);
    if (existsSync(file)) corpus.push({name, bytes: readFileSync(file)});
  }
  if (!corpus.length) skipped.push(`the NiBabel corpus is absent (${niftiCorpus}): no big-endian, NIfTI-2 or 4-D cases`);
  return {origin, pairs, labels: {0: 'background', 1: 'left atrium'}, corpus, skipped};
}

export interface BadInput {
  id: string;
  /** what is wrong, in words (for the report) */
  what: string;
  /** the offending file inside a dataset, relative to its root (imagesTr/..., labelsTr/..., dataset.json) */
  rel: string;
  /** file-level inputs: the loose copy in Corpus.filesDir (for info and predict) */
  file?: string;
  /** a message about it must say this */
  problem: RegExp;
  /** 'file': wrong on its own (info, predict, and as a case image); 'dataset': wrong only inside a dataset */
  level: 'file' | 'dataset';
  /** a valid NIfTI a header viewer can show (`info`), though training and prediction cannot use it */
  viewable: boolean;
  /** made unreadable with chmod 000 (only meaningful where permissions are enforced) */
  unreadable?: boolean;
}

export interface Corpus {
  sources: Sources;
  /** every bad input; each sits in `dataset` (file-level ones as a case image) and alone in `single[id]` */
  inputs: BadInput[];
  /** one Decathlon dataset holding every file- and dataset-level problem, plus two good cases */
  dataset: string;
  /** id -> a dataset holding one good case and only that problem */
  single: Record<string, string>;
  /** a dataset whose dataset.json is malformed, and what a message about it must say */
  malformed: {dataset: string; what: string; problem: RegExp};
  /** good data under a path with spaces and non-ASCII characters: must work everywhere */
  oddDataset: string;
  oddImage: string;
}

const TB = /too large|would need|[TP]i?B|terabyte|exceeds|over the|limit|larger than|shorter than|holds only|too big/i;
const TRUNCATED = /truncat|ends early|unexpected end|incomplete|shorter than|holds only/i;
const NOT_NIFTI = /not a nifti|magic|not nifti/i;
const NOT_3D = /3-D|3D|dimensions? .*supported|expected .*3/i;

interface Made {
  input: BadInput;
  name: string;
  image: Buffer;
  label?: Buffer;
  imageExt?: string;
}

/** Broken or unusable images: each is a case image (with a good label) and, for info and predict, a loose file. */
function fileLevel(s: Sources): Made[] {
  const {image: img, label: lab} = s.pairs[0];
  const label = lab.gz();
  const [nx, ny, nz] = img.dims;
  const n = nx * ny * nz;
  const f32 = img.datatype === 16 ? img.clone() : img.asFloat32();
  const out: Made[] = [];
  const add = (id: string, image: Buffer, what: string, problem: RegExp, viewable = false, ext = '.nii.gz') =>
    out.push({input: {id, what, rel: `imagesTr/bad_${id}${ext}`, problem, level: 'file', viewable}, name: `bad_${id}`, image, label, imageExt: ext});
  add('zero_byte', Buffer.alloc(0), 'a zero-byte .nii.gz', /empty|0 bytes|too short/i);
  const gz = img.gz();
  add('truncated_gz', gz.subarray(0, Math.floor(gz.length * 0.6)), 'a .nii.gz cut at 60 %', TRUNCATED);
  const magic = img.clone();
  magic.bytes.write('xq9\0', 344, 'latin1');
  add('wrong_magic', magic.gz(), 'magic "xq9" instead of "n+1"', NOT_NIFTI);
  add('terabytes', img.clone().setDims([32000, 32000, 32000]).gz(), 'header claims 32000^3 voxels (~131 TB)', TB);
  add('negative_dim', img.clone().setDims([nx, -ny, nz]).gz(), 'dim[2] = -40', /-\d+.*(dim|at least|positive)|negative/i);
  add('zero_dim', img.clone().setDims([nx, ny, 0]).gz(), 'dim[3] = 0', /(dim|dimension|size)[^\n]{0,40}\b0\b|at least 1|zero/i);
  add('datatype_999', img.clone().setInt16(70, 999).gz(), 'datatype code 999 (none)', /datatype|data type|dtype|data code/i);
  add('nan_voxels', f32.clone().poke([0, Math.floor(n / 2), n - 1], NaN).gz(), 'three NaN voxels', /NaN|non-finite|not finite/i, true);
  add('inf_voxels', f32.clone().poke([1, Math.floor(n / 3)], Infinity).gz(), 'two +Inf voxels', /inf|non-finite|not finite/i, true);
  const slice = img.withData(img.data.subarray(0, nx * ny * img.bytesPerVoxel)).setDims([nx, ny]);
  add('two_d', slice.gz(), `a 2-D image (${nx}x${ny})`, NOT_3D, true);
  const fiveD = img.withData(Buffer.concat([img.data, img.data])).setDims([nx, ny, nz, 1, 2]);
  add('five_d', fiveD.gz(), `a 5-D image (${nx}x${ny}x${nz}x1x2)`, NOT_3D, true);
  const anat = s.corpus.find(c => c.name === 'anatomical.nii');
  if (anat) {
    const broken = Buffer.from(anat.bytes);
    broken.write('n+9\0', 344, 'latin1');
    add('corpus_big_endian_magic', broken, 'NiBabel anatomical.nii (big-endian) with magic "n+9"', NOT_NIFTI, false, '.nii');
    const huge = Buffer.from(anat.bytes);
    for (let i = 0; i < 3; i++) huge.writeInt16BE(30000, 42 + 2 * i);
    add('corpus_big_endian_terabytes', huge, 'NiBabel anatomical.nii (big-endian) claiming 30000^3 int16 voxels', TB, false, '.nii');
  }
  const nifti2 = s.corpus.find(c => c.name === 'example_nifti2.nii.gz');
  if (nifti2) {
    add('corpus_nifti2_4d', nifti2.bytes, 'NiBabel example_nifti2.nii.gz: a real NIfTI-2 4-D series (32x20x12x2)', NOT_3D, true);
    const raw = gunzipSync(nifti2.bytes);
    for (let i = 1; i <= 3; i++) raw.writeBigInt64LE(1n << 40n, 16 + 8 * i);
    add('corpus_nifti2_huge', gzipSync(raw), 'NiBabel example_nifti2 with 2^40 voxels per axis (int64 dims)', TB);
  }
  const epi = s.corpus.find(c => c.name === 'someones_epi.nii.gz');
  if (epi) add('corpus_truncated', epi.bytes.subarray(0, Math.floor(epi.bytes.length / 3)), 'NiBabel someones_epi.nii.gz cut at a third', TRUNCATED);
  return out;
}

/** Problems that exist only inside a dataset: the label against its image, dataset.json against the files. */
function datasetLevel(s: Sources): Made[] {
  const {image, label} = s.pairs[0];
  const [nx, ny, nz] = label.dims;
  const make = (id: string, what: string, problem: RegExp, lab?: Buffer): Made =>
    ({input: {id, what, rel: `labelsTr/bad_${id}.nii.gz`, problem, level: 'dataset', viewable: true}, name: `bad_${id}`, image: image.gz(), label: lab});
  return [
    make('shape_mismatch', `label ${nx}x${ny}x${nz - 2} for a ${nx}x${ny}x${nz} image`, /shape|dimensions/i,
      label.crop([0, 0, 0], [nx, ny, nz - 2]).gz()),
    make('affine_mismatch', 'label origin moved 10 mm from the image', /affine|origin/i, label.clone().shiftOrigin(10).gz()),
    make('undeclared_label', 'label value 7 not in dataset.json', /\b7\b.*(declared|dataset\.json)/i, label.clone().poke([0, 5], 7).gz()),
    make('missing_label', 'dataset.json lists a label file that does not exist', /not found|missing|no such|does not exist/i),
  ];
}

function writeDataset(root: string, cases: Made[] | {name: string; image: Buffer; label?: Buffer; imageExt?: string}[], labels: Record<string, string>): void {
  mkdirSync(path.join(root, 'imagesTr'), {recursive: true});
  mkdirSync(path.join(root, 'labelsTr'), {recursive: true});
  const training = cases.map(c => {
    const image = `imagesTr/${c.name}${c.imageExt ?? '.nii.gz'}`;
    const label = `labelsTr/${c.name}.nii.gz`;
    writeFileSync(path.join(root, image), c.image);
    if (c.label) writeFileSync(path.join(root, label), c.label);
    return {image: `./${image}`, label: `./${label}`};
  });
  const meta = {name: path.basename(root), modality: {0: 'MRI'}, labels, numTraining: cases.length, training};
  writeFileSync(path.join(root, 'dataset.json'), JSON.stringify(meta, null, 1));
}

/** A valid dataset of the source pairs, cases named PREFIX0, PREFIX1, ...; returns its root. */
export function writeGoodDataset(root: string, s: Sources, prefix = 'case_'): string {
  writeDataset(root, s.pairs.map((p, i) => ({name: `${prefix}${i}`, image: p.image.gz(), label: p.label.gz()})), s.labels);
  return root;
}

/**
 * Write the corpus under `dir`. `unreadable`: whether a chmod-000 file can be made to fail here (not as root
 * without a way to drop the override); otherwise that input is left out and the reason is added to `skipped`.
 */
export function writeCorpus(dir: string, s: Sources, opts: {unreadable: boolean}): Corpus {
  const filesDir = path.join(dir, 'files');
  mkdirSync(filesDir, {recursive: true});
  const good = s.pairs.slice(0, 2).map(p => ({name: `good_${p.name}`, image: p.image.gz(), label: p.label.gz()}));
  const bad = [...fileLevel(s), ...datasetLevel(s)];
  if (opts.unreadable) {
    bad.push({input: {id: 'unreadable', what: 'an image with mode 000', rel: 'imagesTr/bad_unreadable.nii.gz',
      problem: /permission|denied|EACCES|not readable|unreadable/i, level: 'dataset', viewable: false, unreadable: true},
    name: 'bad_unreadable', image: s.pairs[0].image.gz(), label: s.pairs[0].label.gz()});
  } else {
    s.skipped.push('unreadable file: running as root with no way to drop CAP_DAC_OVERRIDE (setpriv), so chmod 000 would not bite');
  }
  const lock = (root: string) => bad.filter(b => b.input.unreadable).forEach(b => chmodSync(path.join(root, b.input.rel), 0o000));
  for (const b of bad.filter(m => m.input.level === 'file')) {
    b.input.file = path.join(filesDir, path.basename(b.input.rel));
    writeFileSync(b.input.file, b.image);
  }
  const dataset = path.join(dir, 'all-problems');
  writeDataset(dataset, [...good, ...bad], s.labels);
  lock(dataset);
  const single: Record<string, string> = {};
  for (const b of bad) {
    single[b.input.id] = path.join(dir, `only-${b.input.id}`);
    writeDataset(single[b.input.id], [good[0], b], s.labels);
    if (b.input.unreadable) chmodSync(path.join(single[b.input.id], b.input.rel), 0o000);
  }
  const malformedRoot = path.join(dir, 'malformed-json');
  writeDataset(malformedRoot, good, s.labels);
  const jsonFile = path.join(malformedRoot, 'dataset.json');
  writeFileSync(jsonFile, readFileSync(jsonFile, 'utf8').slice(0, 80));
  const oddDataset = writeGoodDataset(path.join(dir, 'data sets ü', 'Vorhof 心房 é'), s, 'case ü ');
  return {
    sources: s, inputs: bad.map(b => b.input), dataset, single,
    malformed: {dataset: malformedRoot, what: 'dataset.json cut after 80 characters', problem: /json|expecting|unexpected end|malformed|parse/i},
    oddDataset, oddImage: path.join(oddDataset, 'imagesTr', 'case ü 0.nii.gz'),
  };
}
