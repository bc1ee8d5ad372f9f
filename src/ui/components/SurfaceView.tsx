// The shaded surface of a label, as characters; turning is the caller's state.
import React, {useMemo} from 'react';
import {Box, Text} from 'ink';
import {extractSurface, renderSurface, type MaskVolume} from '../lib/surface.js';
import {useColour} from '../theme.js';

export interface SurfaceViewProps {
  mask: MaskVolume | null;
  yaw: number;
  pitch: number;
  zoom: number;
  width: number;
  height: number;
  caption: string;
  /** Why there may be no mask. */
  note?: string;
}

export function SurfaceView({mask, yaw, pitch, zoom, width, height, caption, note}: SurfaceViewProps) {
  const c = useColour();
  const surface = useMemo(() => (mask ? extractSurface(mask) : null), [mask]);
  const rows = Math.max(1, height - 1);
  const lines = surface && surface.count > 0 ? renderSurface(surface, {yaw, pitch, zoom, cols: width, rows}) : [];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate" dimColor>
        {caption}
        {surface ? ` · ${surface.count} surface voxels · yaw ${Math.round(yaw)}° pitch ${Math.round(pitch)}°` : ''}
      </Text>
      {surface && surface.count > 0 ? (
        lines.map((l, i) => (
          <Text key={i} color={c('green')}>
            {l}
          </Text>
        ))
      ) : (
        <Text dimColor wrap="wrap">{mask ? 'the prediction is empty: no surface to draw' : note ?? 'no prediction for this case'}</Text>
      )}
    </Box>
  );
}
