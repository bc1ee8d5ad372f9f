// Slice extraction, terminal half-block and histogram drawing, and PNG figures.
export {extractSlice, planeAxis, worldToVoxelAxes, type Plane, type Slice, type VolumeLike} from './slice.js';
export {renderSliceHalfBlocks, type HalfBlockOptions} from './halfblock.js';
export {renderHistogram, binValues, type HistogramOptions} from './histogram.js';
export {writeSlicePng, slicePng, writeHistogramPng, histogramPng, writeFileAtomic, type SlicePngOptions} from './png.js';
export {defaultWindow, labelColour, rgbTo256, type SliceImage} from './colour.js';
export {colourEnabled, colourPalette} from './terminal.js';

export {table, formatNumber, sideBySide, visibleWidth} from './table.js';
