// PNG figures (pngjs): a slice with its label overlay at the physical aspect ratio, and a histogram chart.
import {promises as fsp} from 'node:fs';
import path from 'node:path';
import {PNG} from 'pngjs';
import {outputHeight, sampler, sampleRgb, type Rgb, type SliceImage} from './colour.js';
import {binValues} from './histogram.js';

export interface SlicePngOptions extends SliceImage {
  /** output width in pixels; default 3 pixels per source column, at least 256 */
  outWidth?: number;
}

export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const png = new PNG({width, height});
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return PNG.sync.write(png);
}

/** Write to a temporary name beside the target, then rename, so a figure is never half-written. */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await fsp.writeFile(tmp, bytes);
  await fsp.rename(tmp, file);
}

export function slicePng(opts: SlicePngOptions): Buffer {
  const outW = Math.max(1, Math.round(opts.outWidth ?? Math.max(256, opts.width * 3)));
  const outH = outputHeight(opts, outW);
  const sample = sampler(opts, outW, outH);
  const rgba = new Uint8Array(outW * outH * 4);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const [r, g, b] = sampleRgb(sample(x, y));
      const o = (y * outW + x) * 4;
      rgba[o] = r;
      rgba[o + 1] = g;
      rgba[o + 2] = b;
      rgba[o + 3] = 255;
    }
  }
  return encodePng(outW, outH, rgba);
}

export async function writeSlicePng(file: string, opts: SlicePngOptions): Promise<void> {
  await writeFileAtomic(file, slicePng(opts));
}

export interface HistogramPngOptions {
  bins: number;
  width?: number;
  height?: number;
  colour?: Rgb;
}

/** Bar chart of binned values on white, bars in one colour, a grey baseline. */
export function histogramPng(values: ArrayLike<number>, opts: HistogramPngOptions): Buffer {
  const width = opts.width ?? 480;
  const height = opts.height ?? 240;
  const margin = 10;
  const {counts} = binValues(values, opts.bins);
  const top = Math.max(1, ...counts);
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const put = (x: number, y: number, c: Rgb) => {
    const o = (y * width + x) * 4;
    rgba[o] = c[0];
    rgba[o + 1] = c[1];
    rgba[o + 2] = c[2];
  };
  const plotW = width - 2 * margin;
  const plotH = height - 2 * margin;
  const barW = plotW / counts.length;
  const colour = opts.colour ?? [200, 60, 60];
  counts.forEach((c, i) => {
    const h = Math.round((c / top) * plotH);
    const x0 = Math.round(margin + i * barW);
    const x1 = Math.max(x0 + 1, Math.round(margin + (i + 1) * barW) - 1);
    for (let x = x0; x < x1; x++) for (let y = height - margin - h; y < height - margin; y++) put(x, y, colour);
  });
  for (let x = margin; x < width - margin; x++) put(x, height - margin, [120, 120, 120]);
  return encodePng(width, height, rgba);
}

export async function writeHistogramPng(file: string, values: ArrayLike<number>, opts: HistogramPngOptions): Promise<void> {
  await writeFileAtomic(file, histogramPng(values, opts));
}
