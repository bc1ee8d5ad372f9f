// A label's surface as shaded characters: boundary voxels with normals, rotated and z-buffered. Pure.

export interface MaskVolume {
  data: ArrayLike<number>;
  /** [z, y, x] voxels. */
  shape: [number, number, number];
  /** [z, y, x] millimetres. */
  spacing: [number, number, number];
}

export interface Surface {
  /** x, y, z in mm (RAS-like: x right, y anterior, z superior), centred on the centroid. */
  points: Float32Array;
  normals: Float32Array;
  count: number;
  /** Largest distance of a point from the centre, mm. */
  radius: number;
  /** Surface patch one point stands for, mm across (voxel size, more when thinned). */
  pointSize: number;
}

/** Voxels of `mask` != 0 that touch a background 6-neighbour, with outward normals; at most maxPoints, evenly thinned. */
export function extractSurface(mask: MaskVolume, maxPoints = 40000): Surface {
  const [nz, ny, nx] = mask.shape;
  const [sz, sy, sx] = mask.spacing;
  if (mask.data.length !== nz * ny * nx) throw new RangeError(`mask has ${mask.data.length} voxels, shape says ${nz * ny * nx}`);
  const on = (z: number, y: number, x: number) =>
    z >= 0 && y >= 0 && x >= 0 && z < nz && y < ny && x < nx && mask.data[(z * ny + y) * nx + x] !== 0;
  const found: number[] = [];
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        if (!on(z, y, x)) continue;
        if (on(z - 1, y, x) && on(z + 1, y, x) && on(z, y - 1, x) && on(z, y + 1, x) && on(z, y, x - 1) && on(z, y, x + 1)) continue;
        found.push(z, y, x);
      }
  const total = found.length / 3;
  const stride = Math.max(1, Math.ceil(total / maxPoints));
  const count = Math.ceil(total / stride);
  const points = new Float32Array(count * 3);
  const normals = new Float32Array(count * 3);
  let cx = 0;
  let cy = 0;
  let cz = 0;
  for (let i = 0, j = 0; i < total; i += stride, j++) {
    const [z, y, x] = [found[3 * i], found[3 * i + 1], found[3 * i + 2]];
    // Outward normal: the sum of directions to background voxels in the 3x3x3 neighbourhood.
    let gx = 0;
    let gy = 0;
    let gz = 0;
    for (let dz = -1; dz <= 1; dz++)
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          if (!on(z + dz, y + dy, x + dx)) {
            gx += dx / sx;
            gy += dy / sy;
            gz += dz / sz;
          }
        }
    const len = Math.hypot(gx, gy, gz) || 1;
    points.set([x * sx, y * sy, z * sz], 3 * j);
    normals.set([gx / len, gy / len, gz / len], 3 * j);
    cx += x * sx;
    cy += y * sy;
    cz += z * sz;
  }
  cx /= count || 1;
  cy /= count || 1;
  cz /= count || 1;
  let radius = 0;
  for (let j = 0; j < count; j++) {
    points[3 * j] -= cx;
    points[3 * j + 1] -= cy;
    points[3 * j + 2] -= cz;
    radius = Math.max(radius, Math.hypot(points[3 * j], points[3 * j + 1], points[3 * j + 2]));
  }
  const pointSize = ((sx + sy + sz) / 3) * Math.sqrt(stride);
  return {points, normals, count, radius, pointSize};
}

export interface View {
  /** Turn about the vertical (z) axis, degrees. */
  yaw: number;
  /** Tilt about the screen's horizontal axis, degrees. */
  pitch: number;
  cols: number;
  rows: number;
  zoom?: number;
}

const RAMP = ' .:-=+*#%@';

/** Orthographic view of the surface as characters, brighter where it faces the light; blank where empty. */
export function renderSurface(surface: Surface, view: View): string[] {
  const {cols, rows} = view;
  if (cols < 1 || rows < 1) return [];
  const depth = new Float32Array(cols * rows).fill(-Infinity);
  const light = new Float32Array(cols * rows);
  const a = (view.yaw * Math.PI) / 180;
  const b = (view.pitch * Math.PI) / 180;
  const [ca, sa, cb, sb] = [Math.cos(a), Math.sin(a), Math.cos(b), Math.sin(b)];
  const rotate = (x: number, y: number, z: number): [number, number, number] => {
    const x1 = x * ca - y * sa;
    const y1 = x * sa + y * ca;
    return [x1, y1 * cb - z * sb, y1 * sb + z * cb];
  };
  // Cells are about twice as tall as wide: one mm spans half as many rows as columns.
  const r = surface.radius || 1;
  const scale = Math.min((cols / 2 - 1) / r, rows - 1 > 0 ? (rows - 1) / r : 1) * (view.zoom ?? 1);
  // The viewer stands anterior (+y) looking back, so the patient's right is on the screen's left, as in radiology.
  const norm = Math.hypot(0.4, 0.75, 0.5);
  const [lx, ly, lz] = [0.4 / norm, 0.75 / norm, 0.5 / norm]; // light from the viewer's upper left
  const reachX = Math.max(0, (surface.pointSize * scale) / 2 - 0.5);
  const reachY = Math.max(0, (surface.pointSize * scale) / 4 - 0.5);
  for (let i = 0; i < surface.count; i++) {
    const [x, y, z] = rotate(surface.points[3 * i], surface.points[3 * i + 1], surface.points[3 * i + 2]);
    const [nx, ny, nz] = rotate(surface.normals[3 * i], surface.normals[3 * i + 1], surface.normals[3 * i + 2]);
    const shade = 0.15 + 0.85 * Math.max(0, nx * lx + ny * ly + nz * lz);
    const cx = cols / 2 - x * scale;
    const cy = rows / 2 - (z * scale) / 2;
    // Each point covers its patch of surface, so sparse points still close up into a surface.
    for (let row = Math.round(cy - reachY); row <= Math.round(cy + reachY); row++) {
      for (let col = Math.round(cx - reachX); col <= Math.round(cx + reachX); col++) {
        if (col < 0 || row < 0 || col >= cols || row >= rows) continue;
        const k = row * cols + col;
        if (y <= depth[k]) continue;
        depth[k] = y;
        light[k] = shade;
      }
    }
  }
  const out: string[] = [];
  for (let row = 0; row < rows; row++) {
    let line = '';
    for (let col = 0; col < cols; col++) {
      const k = row * cols + col;
      line += depth[k] === -Infinity ? ' ' : RAMP[1 + Math.min(RAMP.length - 2, Math.floor(light[k] * (RAMP.length - 1)))];
    }
    out.push(line);
  }
  return out;
}
