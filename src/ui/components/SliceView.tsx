// A slice drawn by the core's renderer (half-block lines), with its caption.
import React from 'react';
import {Box, Text} from 'ink';

export interface SliceViewProps {
  caption: string;
  lines: string[];
  width: number;
  height: number;
}

export function SliceView({caption, lines, width, height}: SliceViewProps) {
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate" dimColor>
        {caption}
      </Text>
      {lines.slice(0, Math.max(0, height - 1)).map((line, i) => (
        <Text key={i} wrap="truncate">
          {line}
        </Text>
      ))}
    </Box>
  );
}
