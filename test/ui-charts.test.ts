// The drawing helpers: braille line charts, block bars and histograms, the shaded 3D surface.
import {describe, expect, it} from 'vitest';
import {blockBar, columnBars, histogramBins} from '../src/ui/lib/bars.js';
import {plotBraille, valueRange} from '../src/ui/lib/braille.js';
import {extractSurface, renderSurface} from '../src/ui/lib/surface.js';
import {ballMask} from './ui-fake-core.js';

/** The dots set in a braille cell as (column, row) pairs within its 2x4 grid. */
function dots(ch: string): Array<[number, number]> {
  const bits = ch.charCodeAt(0) - 0x2800;
  const map: Array<[number, number, number]> = [[0, 0, 1], [0, 1, 2], [0, 2, 4], [1, 0, 8], [1, 1, 16], [1, 2, 32], [0, 3, 64], [1, 3, 128]];
  return ch === ' ' ? [] : map.filter(([, , b]) => bits & b).map(([c, r]) => [c, r]);
}

describe('plotBraille', () => {
  it('puts the first value top-left and the last bottom-right for a falling series', () => {
    const g = plotBraille([{values: [1, 0]}], 3, 2);
    expect(g.rows).toHaveLength(2);
    expect(dots(g.rows[0][0])).toContainEqual([0, 0]); // x=0, top dot row
    expect(dots(g.rows[1][2])).toContainEqual([1, 3]); // x=5 (last dot column), bottom dot row
    expect(g).toMatchObject({min: 0, max: 1, points: 2});
  });

  it('connects points without holes: every dot column is used by a line across the chart', () => {
    const g = plotBraille([{values: [0, 1, 0, 1]}], 10, 3);
    for (let x = 0; x < 20; x++) {
      const cell = g.rows.map((r) => r[Math.floor(x / 2)]).flatMap((ch) => dots(ch)).filter(([c]) => c === x % 2);
      expect(cell.length, `dot column ${x}`).toBeGreaterThan(0);
    }
  });

  it('marks which series drew each cell, leaves gaps for null and draws dots only when asked', () => {
    const g = plotBraille([{values: [0, 0, 0]}, {values: [1, null, 1], lines: false}], 6, 2);
    expect(g.owner[0][0]).toBe(1);
    expect(g.owner[0][5]).toBe(1);
    expect(g.owner[0].slice(1, 5).every((o) => o === -1)).toBe(true); // the gap and no connecting line
    expect(g.owner[1].every((o) => o === 0)).toBe(true);
  });

  it.each([
    [[[5, 5]], {min: 4.75, max: 5.25}], // flat: widened around the value
    [[[null, NaN]], {min: 0, max: 1}], // nothing finite
    [[[1, 3], [-2]], {min: -2, max: 3}],
  ])('value range of %j is %j', (values, range) => {
    expect(valueRange(values.map((v) => ({values: v as number[]})))).toEqual(range);
  });

  it.each([
    [[0, 0], {min: 0}, {min: 0, max: 1}], // a flat learning rate of 0 stays at the bottom
    [[0.2, 0.4], {min: 0, max: 1}, {min: 0, max: 1}], // Dice on its whole scale
    [[], {min: 0, max: 1}, {min: 0, max: 1}],
  ])('value range of %j with bounds %j is %j', (values, fixed, range) => {
    expect(valueRange([{values}], fixed)).toEqual(range);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => plotBraille([], 0, 3)).toThrow(/chart size/);
  });
});

describe('bars', () => {
  it.each([
    [0, 4, '░░░░'],
    [1, 4, '████'],
    [0.5, 4, '██░░'],
    [0.5625, 4, '██▎░'], // 2.25 cells: two full, a quarter
    [2, 3, '███'], // clamped
    [NaN, 2, '░░'],
  ])('blockBar(%s, %s) is %j', (f, w, bar) => {
    expect(blockBar(f, w)).toBe(bar);
  });

  it('bins values into equal-width bins including the maximum', () => {
    expect(histogramBins([0, 1, 2, 3, 4], 2)).toEqual({counts: [2, 3], edges: [0, 2, 4]});
    expect(histogramBins([7, 7], 5).counts).toEqual([2]);
    expect(() => histogramBins([1], 0)).toThrow(/bins/);
  });

  it('draws column bars scaled to the peak, top row first', () => {
    expect(columnBars([4, 2, 0], 2)).toEqual(['█  ', '██ ']);
  });
});

describe('surface', () => {
  const ball = ballMask(16, 5);

  it('extracts only boundary voxels, with outward normals', () => {
    const s = extractSurface(ball);
    const solid = Array.from(ball.data).filter(Boolean).length;
    expect(s.count).toBeGreaterThan(0);
    expect(s.count).toBeLessThan(solid);
    for (let i = 0; i < s.count; i++) {
      const p = [s.points[3 * i], s.points[3 * i + 1], s.points[3 * i + 2]];
      const n = [s.normals[3 * i], s.normals[3 * i + 1], s.normals[3 * i + 2]];
      expect(p[0] * n[0] + p[1] * n[1] + p[2] * n[2]).toBeGreaterThan(0); // points away from the centre
    }
    expect(s.radius).toBeGreaterThan(4);
    expect(s.radius).toBeLessThan(6.5);
  });

  it('thins large surfaces to the point budget', () => {
    expect(extractSurface(ball, 50).count).toBeLessThanOrEqual(50);
  });

  it('refuses a mask whose size does not match its shape', () => {
    expect(() => extractSurface({...ball, shape: [2, 2, 2]})).toThrow(/shape says 8/);
  });

  it('shades a ball brighter towards the light (upper left of the screen) than away from it', () => {
    const lines = renderSurface(extractSurface(ball), {yaw: 0, pitch: 0, cols: 40, rows: 20});
    const ramp = ' .:-=+*#%@';
    const level = (r: number, c: number) => ramp.indexOf(lines[r][c]);
    const drawn = lines.flatMap((l, r) => [...l].map((ch, c) => [r, c, ch] as const)).filter(([, , ch]) => ch !== ' ');
    expect(drawn.length).toBeGreaterThan(100);
    const rows = drawn.map(([r]) => r);
    const cols = drawn.map(([, c]) => c);
    const [top, bottom, left, right] = [Math.min(...rows), Math.max(...rows), Math.min(...cols), Math.max(...cols)];
    const upperLeft = drawn.filter(([r, c]) => r < (top + bottom) / 2 && c < (left + right) / 2).map(([r, c]) => level(r, c));
    const lowerRight = drawn.filter(([r, c]) => r > (top + bottom) / 2 && c > (left + right) / 2).map(([r, c]) => level(r, c));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(upperLeft)).toBeGreaterThan(mean(lowerRight) + 1);
    // Cells are twice as tall as wide: the ball spans about twice as many columns as rows.
    expect((right - left) / (bottom - top)).toBeGreaterThan(1.6);
    expect((right - left) / (bottom - top)).toBeLessThan(2.5);
  });

  it('turning changes the picture of a lopsided shape', () => {
    const n = 12;
    const data = new Uint8Array(n * n * n);
    for (let z = 2; z < 10; z++) for (let y = 4; y < 8; y++) for (let x = 1; x < 11; x++) data[(z * n + y) * n + x] = 1; // a slab wide in x
    const s = extractSurface({data, shape: [n, n, n], spacing: [1, 1, 1]});
    const width = (yaw: number) => {
      const lines = renderSurface(s, {yaw, pitch: 0, cols: 60, rows: 20});
      const cols = lines.flatMap((l) => [...l].map((ch, c) => (ch === ' ' ? -1 : c))).filter((c) => c >= 0);
      return Math.max(...cols) - Math.min(...cols);
    };
    expect(width(0)).toBeGreaterThan(width(90) * 1.5); // seen from the front it is wide, from the side narrow
  });
});
