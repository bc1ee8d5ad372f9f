// Terminal drawing of a slice with "▀" half blocks: foreground = upper pixel, background = lower pixel.
import {outputHeight, rgbTo256, sampler, sampleRgb, type Rgb, type Sample, type SliceImage} from './colour.js';

export interface HalfBlockOptions extends SliceImage {
  /** terminal columns to fill */
  cols: number;
  /** at most this many lines; the width shrinks to keep the aspect ratio */
  maxRows?: number;
  color: boolean;
  /** colour depth; truecolor unless asked for 256 */
  palette?: 'truecolor' | '256';
}

const UPPER_HALF = '\u2580';
const RESET = '\x1b[0m';
// Plain-text intensity ramp, darkest first; '#', 'o' and 'x' are kept for labels.
const RAMP = ' .:-=+*%@';

/** Plain-text cell: label marks win over intensity ('#' labelled or in both masks, 'o' only label, 'x' only label2). */
function plainCell(top: Sample, bottom: Sample | undefined, twoMasks: boolean): string {
  const l1 = top.label || bottom?.label;
  const l2 = top.label2 || bottom?.label2;
  if (twoMasks) {
    if (l1 && l2) return '#';
    if (l1) return 'o';
    if (l2) return 'x';
  } else if (l1 || l2) {
    return '#';
  }
  const greys = [top.grey, bottom?.grey ?? top.grey].map((g) => (Number.isNaN(g) ? 0 : g));
  const g = (greys[0] + greys[1]) / 2;
  return RAMP[Math.min(RAMP.length - 1, Math.floor(g * RAMP.length))];
}

function sgr(rgb: Rgb, background: boolean, palette: 'truecolor' | '256'): string {
  const layer = background ? 48 : 38;
  return palette === '256' ? `\x1b[${layer};5;${rgbTo256(rgb)}m` : `\x1b[${layer};2;${rgb[0]};${rgb[1]};${rgb[2]}m`;
}

export function renderSliceHalfBlocks(opts: HalfBlockOptions): string[] {
  if (!(opts.width > 0 && opts.height > 0) || opts.slice.length < opts.width * opts.height) {
    throw new RangeError(`slice of ${opts.slice.length} values does not fill ${opts.width}x${opts.height}`);
  }
  if (!(opts.cols >= 1)) throw new RangeError(`cols must be at least 1, got ${opts.cols}`);
  let outW = Math.floor(opts.cols);
  let outH = outputHeight(opts, outW);
  if (opts.maxRows && Math.ceil(outH / 2) > opts.maxRows) {
    outW = Math.max(1, Math.floor((outW * opts.maxRows * 2) / outH));
    outH = Math.min(opts.maxRows * 2, outputHeight(opts, outW));
  }
  const sample = sampler(opts, outW, outH);
  const palette = opts.palette ?? 'truecolor';
  const twoMasks = Boolean(opts.label && opts.label2);
  const lines: string[] = [];
  for (let row = 0; row < outH; row += 2) {
    let line = '';
    let lastFg = '';
    let lastBg = '';
    for (let x = 0; x < outW; x++) {
      const top = sample(x, row);
      const bottom = row + 1 < outH ? sample(x, row + 1) : undefined;
      if (!opts.color) {
        line += plainCell(top, bottom, twoMasks);
        continue;
      }
      const fg = sgr(sampleRgb(top), false, palette);
      // An odd last row leaves the lower half in the terminal's own background.
      const bg = bottom ? sgr(sampleRgb(bottom), true, palette) : '\x1b[49m';
      if (fg !== lastFg) line += fg;
      if (bg !== lastBg) line += bg;
      lastFg = fg;
      lastBg = bg;
      line += UPPER_HALF;
    }
    lines.push(opts.color ? line + RESET : line);
  }
  return lines;
}
