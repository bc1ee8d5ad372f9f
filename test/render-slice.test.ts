// Slice extraction in display order, half-block drawing (snapshots with and without colour), histograms, PNGs.
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {PNG} from 'pngjs';
import {afterAll, describe, expect, it} from 'vitest';
import {
  colourEnabled,
  colourPalette,
  extractSlice,
  planeAxis,
  renderHistogram,
  renderSliceHalfBlocks,
  rgbTo256,
  sideBySide,
  writeHistogramPng,
  writeSlicePng,
} from '../src/core/render/index.js';

// value = x + 10 y + 100 z, so every pixel says where it came from.
function coded(nx: number, ny: number, nz: number, orientation = 'RAS', spacing = [1, 2, 3]) {
  const data = new Float32Array(nx * ny * nz);
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) data[x + nx * (y + ny * z)] = x + 10 * y + 100 * z;
  return {shape: [nx, ny, nz], data, spacing, orientation};
}

const rows = (s: {data: Float32Array; width: number; height: number}) =>
  Array.from({length: s.height}, (_, r) => Array.from(s.data.subarray(r * s.width, (r + 1) * s.width)));

describe('extractSlice', () => {
  it('axial of RAS: patient right on the left, anterior on top', () => {
    const s = extractSlice(coded(3, 4, 5), 'axial', 2);
    expect([s.width, s.height, s.axis, s.index, s.pixelAspect]).toEqual([3, 4, 2, 2, 2]);
    expect(rows(s)).toEqual([[232, 231, 230], [222, 221, 220], [212, 211, 210], [202, 201, 200]]);
  });
  it('sagittal of RAS: anterior on the left, superior on top', () => {
    const s = extractSlice(coded(3, 4, 5), 'sagittal', 1);
    expect([s.width, s.height, s.axis, s.pixelAspect]).toEqual([4, 5, 0, 1.5]);
    expect(rows(s)[0]).toEqual([431, 421, 411, 401]);
    expect(rows(s)[4]).toEqual([31, 21, 11, 1]);
  });
  it('coronal of RAS: superior on top', () => {
    const s = extractSlice(coded(3, 4, 5), 'coronal', 3);
    expect([s.width, s.height, s.axis, s.pixelAspect]).toEqual([3, 5, 1, 3]);
    expect(rows(s)[0]).toEqual([432, 431, 430]);
  });
  it('LPS data gives the same picture as RAS data of the same patient', () => {
    // In LPS, +x points left and +y posterior: column 0 (patient right) is x = 0, row 0 (anterior) is y = 0.
    const s = extractSlice(coded(3, 4, 5, 'LPS'), 'axial', 0);
    expect(rows(s)[0]).toEqual([0, 1, 2]);
    expect(rows(s)[3]).toEqual([30, 31, 32]);
  });
  it('finds the axial axis of a volume stored sagittally and clamps the index', () => {
    expect(planeAxis('ASL', 'axial')).toBe(1);
    expect(planeAxis('ASL', 'sagittal')).toBe(2);
    expect(extractSlice(coded(3, 4, 5), 'axial', 99).index).toBe(4);
  });
});

// 4x4 ramp 0..15 with a 2x2 label in the middle.
const ramp = Float32Array.from({length: 16}, (_, i) => i);
const label = Uint8Array.from([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 2, 0, 0, 0, 0, 0]);
const base = {slice: ramp, width: 4, height: 4, aspect: 1, window: [0, 15] as [number, number]};

describe('renderSliceHalfBlocks', () => {
  it('plain text: intensity ramp, # where labelled', () => {
    expect(renderSliceHalfBlocks({...base, cols: 4, color: false})).toMatchInlineSnapshot(`
      [
        "..:-",
        "**%%",
      ]
    `);
    expect(renderSliceHalfBlocks({...base, label, cols: 4, color: false})).toMatchInlineSnapshot(`
      [
        ".##-",
        "*##%",
      ]
    `);
  });
  it('plain text with two masks: # both, o first only, x second only', () => {
    const label2 = Uint8Array.from([1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(renderSliceHalfBlocks({...base, label, label2, cols: 4, color: false})).toEqual(['x#o-', '*oo%']);
  });
  it('truecolor: upper pixel as foreground, lower as background, label blended red', () => {
    expect(renderSliceHalfBlocks({...base, label, cols: 4, color: true})).toMatchInlineSnapshot(`
      [
        "[38;2;0;0;0m[48;2;68;68;68m▀[38;2;17;17;17m[48;2;162;76;76m▀[38;2;34;34;34m[48;2;171;85;85m▀[38;2;51;51;51m[48;2;119;119;119m▀[0m",
        "[38;2;136;136;136m[48;2;204;204;204m▀[38;2;199;113;113m[48;2;221;221;221m▀[38;2;122;193;122m[48;2;238;238;238m▀[38;2;187;187;187m[48;2;255;255;255m▀[0m",
      ]
    `);
  });
  it('256 colours use xterm indexes', () => {
    const lines = renderSliceHalfBlocks({...base, cols: 4, color: true, palette: '256'});
    expect(lines[0]).toMatch(/^\x1b\[38;5;\d+m\x1b\[48;5;\d+m\u2580/);
    expect(lines[0]).not.toContain(';2;');
  });
  it('keeps the physical aspect ratio: pixels twice as tall give twice the rows', () => {
    const flat = renderSliceHalfBlocks({...base, aspect: 1, cols: 8, color: false});
    const tall = renderSliceHalfBlocks({...base, aspect: 2, cols: 8, color: false});
    expect(flat.length).toBe(4); // 8 x 8 pixels = 4 lines of half blocks
    expect(tall.length).toBe(8);
    expect(tall.every((l) => l.length === 8)).toBe(true);
  });
  it('shrinks to maxRows keeping the aspect', () => {
    const lines = renderSliceHalfBlocks({...base, aspect: 2, cols: 40, maxRows: 5, color: false});
    expect(lines.length).toBe(5);
    expect(lines[0].length).toBe(5);
  });
  it('refuses a slice that does not fill its size', () => {
    expect(() => renderSliceHalfBlocks({...base, width: 5, cols: 4, color: false})).toThrow(RangeError);
  });
});

describe('colour decisions', () => {
  it.each([
    {isTTY: true, env: {}, flag: false, want: true},
    {isTTY: false, env: {}, flag: false, want: false},
    {isTTY: true, env: {NO_COLOR: '1'}, flag: false, want: false},
    {isTTY: true, env: {NO_COLOR: ''}, flag: false, want: true},
    {isTTY: true, env: {}, flag: true, want: false},
  ])('tty=$isTTY env=$env flag=$flag -> $want', ({isTTY, env, flag, want}) => {
    expect(colourEnabled({isTTY, env, noColorFlag: flag})).toBe(want);
  });
  it('truecolor only when COLORTERM says so', () => {
    expect(colourPalette({COLORTERM: 'truecolor'})).toBe('truecolor');
    expect(colourPalette({TERM: 'screen-256color'})).toBe('256');
  });
  it('maps greys to the grey ramp and colours to the cube', () => {
    expect(rgbTo256([0, 0, 0])).toBe(16);
    expect(rgbTo256([255, 255, 255])).toBe(231);
    expect(rgbTo256([128, 128, 128])).toBe(244);
    expect(rgbTo256([255, 0, 0])).toBe(196);
  });
});

describe('renderHistogram', () => {
  it('draws bars scaled to the fullest bin and an axis with the range', () => {
    expect(renderHistogram([1, 1, 2, 3, 3, 3, 3], {bins: 3, width: 6, height: 2})).toMatchInlineSnapshot(`
      [
        "    ██",
        "██▄▄██",
        "1    3",
      ]
    `);
  });
  it('says when there is nothing to show', () => {
    expect(renderHistogram([NaN], {bins: 4, width: 8, height: 2}).at(-1)).toBe('(no values)');
  });
  it('sideBySide pads by visible width, ignoring colour codes', () => {
    expect(sideBySide([['\x1b[31mab\x1b[0m', 'c'], ['x']], 1)).toEqual(['\x1b[31mab\x1b[0m x', 'c']);
  });
});

describe('PNG figures', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heartseg-png-'));
  afterAll(() => rmSync(dir, {recursive: true, force: true}));
  it('a slice PNG decodes at the physical aspect and shows the label in red', async () => {
    const file = path.join(dir, 'slice.png');
    await writeSlicePng(file, {...base, aspect: 2, label, outWidth: 40});
    const png = PNG.sync.read(readFileSync(file));
    expect([png.width, png.height]).toEqual([40, 80]);
    const px = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 4));
    const greys = new Set<number>();
    for (let i = 0; i < png.data.length; i += 4) greys.add(png.data[i + 1]);
    expect(greys.size).toBeGreaterThan(8); // not blank
    const [r, g, b] = px(15, 25); // source pixel (1, 1): labelled
    expect(r).toBeGreaterThan(g);
    expect(g).toBe(b);
    const [r0, g0, b0] = px(2, 2); // source pixel (0, 0): darkest, unlabelled
    expect([r0, g0, b0]).toEqual([0, 0, 0]);
  });
  it('a histogram PNG decodes and has bars', async () => {
    const file = path.join(dir, 'hist.png');
    await writeHistogramPng(file, [1, 2, 2, 3, 3, 3], {bins: 3, width: 120, height: 60});
    const png = PNG.sync.read(readFileSync(file));
    expect([png.width, png.height]).toEqual([120, 60]);
    let coloured = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i] !== png.data[i + 1]) coloured++;
    expect(coloured).toBeGreaterThan(100);
  });
});
