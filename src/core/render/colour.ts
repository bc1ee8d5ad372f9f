// Greyscale windowing, label overlay colours and resampling shared by the terminal and PNG renderers.
export type Rgb = [number, number, number];

export interface SliceImage {
  slice: ArrayLike<number>;
  width: number;
  height: number;
  /** physical height / width of one source pixel */
  aspect: number;
  label?: ArrayLike<number>;
  label2?: ArrayLike<number>;
  /** intensity window; default the slice's 0.5-99.5 percentiles */
  window?: [number, number];
}

const LABEL_COLOURS: Rgb[] = [
  [255, 64, 64], [64, 220, 64], [80, 140, 255], [255, 220, 40], [230, 90, 230], [40, 220, 220], [255, 150, 40],
];
const LABEL2_COLOUR: Rgb = [0, 200, 255];
const ALPHA = 0.45;

export function labelColour(value: number): Rgb {
  return LABEL_COLOURS[(Math.max(1, Math.round(value)) - 1) % LABEL_COLOURS.length];
}

/** 0.5 and 99.5 percentiles of the finite values (a slice is small, so a sorted copy is fine). */
export function defaultWindow(values: ArrayLike<number>): [number, number] {
  const finite = Float32Array.from(values).filter((v) => Number.isFinite(v)).sort();
  if (finite.length === 0) return [0, 1];
  const at = (q: number) => finite[Math.min(finite.length - 1, Math.round(q * (finite.length - 1)))];
  const lo = at(0.005);
  const hi = at(0.995);
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

function blend(base: Rgb, over: Rgb): Rgb {
  return [0, 1, 2].map((i) => Math.round(base[i] * (1 - ALPHA) + over[i] * ALPHA)) as Rgb;
}

/** Output size in square pixels for a given output width, keeping the physical aspect ratio. */
export function outputHeight(img: SliceImage, outWidth: number): number {
  return Math.max(1, Math.round((outWidth * img.height * img.aspect) / img.width));
}

export interface Sample {
  grey: number; // 0..1, NaN for a non-finite voxel
  label: number;
  label2: number;
}

/** Nearest-neighbour sampler from output pixels to source pixels. */
export function sampler(img: SliceImage, outWidth: number, outHeight: number): (ox: number, oy: number) => Sample {
  const [lo, hi] = img.window ?? defaultWindow(img.slice);
  const span = hi - lo || 1;
  return (ox, oy) => {
    const sx = Math.min(img.width - 1, Math.floor(((ox + 0.5) * img.width) / outWidth));
    const sy = Math.min(img.height - 1, Math.floor(((oy + 0.5) * img.height) / outHeight));
    const i = sy * img.width + sx;
    const v = img.slice[i];
    const grey = Number.isFinite(v) ? Math.min(1, Math.max(0, (v - lo) / span)) : NaN;
    return {grey, label: img.label ? img.label[i] : 0, label2: img.label2 ? img.label2[i] : 0};
  };
}

export function sampleRgb(s: Sample): Rgb {
  const g = Number.isNaN(s.grey) ? 0 : Math.round(s.grey * 255);
  let rgb: Rgb = [g, g, g];
  if (s.label) rgb = blend(rgb, labelColour(s.label));
  if (s.label2) rgb = blend(rgb, LABEL2_COLOUR);
  return rgb;
}

/** Nearest xterm-256 colour: the 24-step grey ramp for greys, the 6x6x6 cube otherwise. */
export function rgbTo256(rgb: Rgb): number {
  const [r, g, b] = rgb;
  if (Math.max(r, g, b) - Math.min(r, g, b) < 10) {
    const grey = (r + g + b) / 3;
    if (grey < 4) return 16;
    if (grey > 246) return 231;
    return 232 + Math.min(23, Math.round((grey - 8) / 10));
  }
  const q = (v: number) => (v < 48 ? 0 : v < 115 ? 1 : Math.min(5, Math.floor((v - 35) / 40)));
  return 16 + 36 * q(r) + 6 * q(g) + q(b);
}
