// Per-volume statistics in O(n) passes over typed arrays: range, mean, exact percentiles, label counts, centroid.
export interface IntensityStats {
  min: number;
  max: number;
  mean: number;
  p005: number;
  p995: number;
  /** voxels that are NaN or infinite (left out of the other numbers) */
  nonFinite: number;
}

type Floats = Float32Array | Float64Array;

const BINS = 65536;
// A bin holding more distinct values than this falls back to sorting a copy (rare: needs a pathological histogram).
const BIN_SORT_CAP = 1 << 18;

/** Exact k-th smallest finite values (0-based ranks) by histogram selection: one counting pass, one gathering pass. */
export function selectRanks(data: Floats, ranks: number[], min: number, max: number): number[] {
  if (!(max > min)) return ranks.map(() => min);
  const scale = BINS / (max - min);
  const last = BINS - 1;
  const counts = new Uint32Array(BINS);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) continue; // NaN or infinite
    const b = ((v - min) * scale) | 0;
    counts[b > last ? last : b]++;
  }
  const where = ranks.map((rank) => {
    let cum = 0;
    for (let b = 0; b < BINS; b++) {
      if (cum + counts[b] > rank) return {bin: b, within: rank - cum};
      cum += counts[b];
    }
    return {bin: last, within: counts[last] - 1};
  });
  // Slot per needed bin (at most one per rank): its values, how many were seen, and their range.
  const slotOf = new Int32Array(BINS).fill(-1);
  const slots: {values: Float64Array; n: number; lo: number; hi: number; sorted: boolean}[] = [];
  for (const {bin} of where) {
    if (slotOf[bin] >= 0) continue;
    slotOf[bin] = slots.length;
    slots.push({values: new Float64Array(Math.min(counts[bin], BIN_SORT_CAP)), n: 0, lo: Infinity, hi: -Infinity, sorted: false});
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) continue;
    const b = ((v - min) * scale) | 0;
    const k = slotOf[b > last ? last : b];
    if (k < 0) continue;
    const slot = slots[k];
    if (slot.n < slot.values.length) slot.values[slot.n] = v;
    slot.n++;
    if (v < slot.lo) slot.lo = v;
    if (v > slot.hi) slot.hi = v;
  }
  let sortedAll: Float64Array | undefined;
  return where.map(({bin, within}, i) => {
    const slot = slots[slotOf[bin]];
    if (slot.lo === slot.hi) return slot.lo;
    if (slot.n <= slot.values.length) {
      if (!slot.sorted) slot.values.sort();
      slot.sorted = true;
      return slot.values[within];
    }
    sortedAll ??= Float64Array.from(data).filter((v) => v - v === 0).sort();
    return sortedAll[ranks[i]];
  });
}

/** Order-preserving 32-bit key of float32 bits (as int32): negatives reversed, all below the positives. */
const keyOf = (b: number) => b ^ ((b >> 31) | 0x80000000);

/** The k-th key in the bins a histogram of high 16 bits put them, by a second pass over the low 16 bits. */
function finishRadix(bits: Int32Array, high: Uint32Array, ranks: number[]): number[] {
  const where = ranks.map((rank) => {
    let cum = 0;
    for (let h = 0; h < 65536; h++) {
      if (cum + high[h] > rank) return {h, within: rank - cum};
      cum += high[h];
    }
    return {h: 65535, within: 0};
  });
  const slotOf = new Int32Array(65536).fill(-1);
  const lows: Uint32Array[] = [];
  for (const {h} of where) {
    if (slotOf[h] >= 0) continue;
    slotOf[h] = lows.length;
    lows.push(new Uint32Array(65536));
  }
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    if ((b & 0x7f800000) === 0x7f800000) continue; // NaN or infinite
    const k = keyOf(b);
    const slot = slotOf[k >>> 16];
    if (slot >= 0) lows[slot][k & 0xffff]++;
  }
  const out = new Float32Array(1);
  const outBits = new Int32Array(out.buffer);
  return where.map(({h, within}) => {
    const low = lows[slotOf[h]];
    let cum = 0;
    let l = 0;
    for (; l < 65535; l++) {
      if (cum + low[l] > within) break;
      cum += low[l];
    }
    outBits[0] = keyOf(((h << 16) | l) ^ 0x80000000) ^ 0x80000000; // keyOf is its own inverse up to the sign bit
    return out[0];
  });
}

/**
 * Exact k-th smallest finite values of float32 data by radix selection on order-preserving 32-bit keys: a
 * histogram of the high 16 bits, then of the low 16 bits inside the bins that hold the ranks. Two cheap passes.
 */
export function selectRanksFloat32(data: Float32Array, ranks: number[]): number[] {
  const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
  const high = new Uint32Array(65536);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    if ((b & 0x7f800000) === 0x7f800000) continue;
    high[keyOf(b) >>> 16]++;
  }
  return finishRadix(bits, high, ranks);
}

/** intensityStats for float32: sum and the high-bits histogram in one pass; min, max, percentiles from the radix. */
function float32Stats(data: Float32Array): IntensityStats {
  const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
  const high = new Uint32Array(65536);
  let sum = 0, count = 0;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    if ((b & 0x7f800000) === 0x7f800000) continue;
    high[keyOf(b) >>> 16]++;
    sum += data[i];
    count++;
  }
  const nonFinite = data.length - count;
  if (count === 0) return {min: NaN, max: NaN, mean: NaN, p005: NaN, p995: NaN, nonFinite};
  let min = NaN, max = NaN;
  const [p005, p995] = interpolate([0.5, 99.5], count, (ranks) => {
    // The extremes are ranks too: one more selection instead of another pass.
    const values = finishRadix(bits, high, [0, count - 1, ...ranks]);
    [min, max] = values;
    return values.slice(2);
  });
  return {min: min === 0 ? 0 : min, max: max === 0 ? 0 : max, mean: sum / count, p005, p995, nonFinite};
}

/** Percentiles with linear interpolation between order statistics (numpy's default), given a rank selector. */
function interpolate(qs: number[], count: number, select: (ranks: number[]) => number[]): number[] {
  const positions = qs.map((q) => (q / 100) * (count - 1));
  const ranks = positions.flatMap((p) => [Math.floor(p), Math.min(count - 1, Math.floor(p) + 1)]);
  const values = select(ranks);
  return positions.map((p, i) => values[2 * i] + (p - Math.floor(p)) * (values[2 * i + 1] - values[2 * i]));
}

export function intensityStats(data: Floats): IntensityStats {
  if (data instanceof Float32Array) return float32Stats(data);
  let min = Infinity, max = -Infinity, sum = 0, count = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    count++;
  }
  const nonFinite = data.length - count;
  if (count === 0) return {min: NaN, max: NaN, mean: NaN, p005: NaN, p995: NaN, nonFinite};
  const [p005, p995] = interpolate([0.5, 99.5], count, (ranks) => selectRanks(data, ranks, min, max));
  return {min, max, mean: sum / count, p005, p995, nonFinite};
}

export interface LabelStats {
  /** voxel count per label value (as a string key, e.g. "0", "1") */
  counts: Record<string, number>;
  /** values that are not whole numbers (or not finite) */
  nonInteger: number;
  /** centroid of voxels with a label > 0, as voxel indices (x, y, z); null when there are none */
  centroid: [number, number, number] | null;
  foreground: number;
}

export function labelStats(data: ArrayLike<number>, shape: number[]): LabelStats {
  const nx = shape[0] ?? 1;
  const ny = shape[1] ?? 1;
  const small = new Float64Array(256);
  const other = new Map<number, number>();
  let nonInteger = 0, fg = 0, sx = 0, sy = 0, sz = 0;
  let i = 0;
  const nz = data.length / (nx * ny);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        const v = data[i];
        if (v === 0) {
          small[0]++;
          continue;
        }
        if (!Number.isInteger(v)) {
          nonInteger++;
          continue;
        }
        if (v > 0 && v < 256) small[v]++;
        else other.set(v, (other.get(v) ?? 0) + 1);
        if (v > 0) {
          fg++;
          sx += x;
          sy += y;
          sz += z;
        }
      }
    }
  }
  const counts: Record<string, number> = {};
  small.forEach((c, v) => {
    if (c > 0) counts[String(v)] = c;
  });
  for (const [v, c] of [...other].sort((a, b) => a[0] - b[0])) counts[String(v)] = c;
  return {counts, nonInteger, foreground: fg, centroid: fg > 0 ? [sx / fg, sy / fg, sz / fg] : null};
}
