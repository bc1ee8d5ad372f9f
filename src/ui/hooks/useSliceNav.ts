// Slice-viewer state shared by Dataset and Evaluate: axis, slice index per axis, overlay on/off.
import {useState} from 'react';
import type {Axis} from '../../core/api.js';

export const AXIS_KEYS: Record<string, Axis> = {a: 'axial', s: 'sagittal', c: 'coronal'};

export interface SliceNav {
  axis: Axis;
  index: number;
  count: number;
  overlay: boolean;
  setAxis: (axis: Axis) => void;
  scroll: (delta: number) => void;
  toggleOverlay: () => void;
  /** Jump to given indices per axis (e.g. through the label's centre). */
  centreOn: (centre: Partial<Record<Axis, number>>) => void;
}

/** The viewer's keys, the same on every screen: arrows and page keys scroll, `l` toggles the overlay. */
export function sliceScrollKeys(nav: SliceNav): Record<string, () => void> {
  return {
    up: () => nav.scroll(1),
    down: () => nav.scroll(-1),
    right: () => nav.scroll(1),
    left: () => nav.scroll(-1),
    pageup: () => nav.scroll(10),
    pagedown: () => nav.scroll(-10),
    l: nav.toggleOverlay,
  };
}

/** `slices` gives the count along an axis (null while nothing is open). */
export function useSliceNav(slices: ((axis: Axis) => number) | null): SliceNav {
  const [axis, setAxis] = useState<Axis>('axial');
  const [indices, setIndices] = useState<Partial<Record<Axis, number>>>({});
  const [overlay, setOverlay] = useState(true);
  const count = slices ? slices(axis) : 0;
  const index = Math.min(Math.max(0, indices[axis] ?? Math.floor(count / 2)), Math.max(0, count - 1));
  return {
    axis,
    index,
    count,
    overlay,
    setAxis,
    scroll: (delta) => setIndices((old) => ({...old, [axis]: Math.min(Math.max(0, index + delta), Math.max(0, count - 1))})),
    toggleOverlay: () => setOverlay((o) => !o),
    centreOn: (centre) => setIndices(centre),
  };
}
