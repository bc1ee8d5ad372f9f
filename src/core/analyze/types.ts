// Shapes of a dataset analysis: what analyzeDataset returns, what `analyze --json` prints.
import type {IntensityStats} from './stats.js';

export interface Problem {
  file: string;
  message: string;
}

export interface LabelVolume {
  voxels: number;
  ml: number;
}

export interface CaseAnalysis {
  name: string;
  /** paths relative to the dataset root */
  image: string;
  label: string;
  /** image dims as stored (x, y, z[, channels]) */
  shape: number[];
  /** voxel size in mm (x, y, z) */
  spacing: number[];
  orientation: string;
  datatype: string;
  labelDatatype: string;
  intensity: IntensityStats;
  /** per label value ("0", "1", ...) */
  labelVolumes: Record<string, LabelVolume>;
  /** all labels > 0 together */
  foreground: LabelVolume & {fraction: number};
  /** label centroid as voxel indices (x, y, z), rounded; the volume centre when the label is empty */
  centre: [number, number, number];
}

export interface SliceView {
  plane: 'axial' | 'sagittal' | 'coronal';
  index: number;
  width: number;
  height: number;
  pixelAspect: number;
  data: Float32Array;
  label: Uint8Array;
}

export interface LabelSummary {
  name: string;
  cases: number;
  meanMl: number;
  minMl: number;
  maxMl: number;
  meanVoxels: number;
  minVoxels: number;
  maxVoxels: number;
}

export interface DatasetSummary {
  cases: number;
  medianSpacing: number[];
  shapeMin: number[];
  shapeMax: number[];
  orientations: Record<string, number>;
  intensity: {min: number; max: number; meanOfMeans: number};
  /** per foreground label value */
  labelVolumes: Record<string, LabelSummary>;
  /** fraction of all voxels (over all cases) per label value, background included */
  classBalance: Record<string, number>;
}

export interface DatasetAnalysis {
  root: string;
  name: string;
  labels: Record<string, string>;
  /** image/label pairs found */
  pairs: number;
  images: number;
  labelFiles: number;
  problems: Problem[];
  cases: CaseAnalysis[];
  summary: DatasetSummary;
}

/** One unit of work for a worker: a pair of files and what to send back. */
export interface CaseTask {
  root: string;
  name: string;
  image: string;
  label: string;
  labels: Record<string, string>;
  slices: boolean;
  maxBytes?: number;
}

export interface CaseResult {
  analysis: CaseAnalysis | null;
  problems: Problem[];
  slices?: SliceView[];
}
