// The last lines of a message log, newest at the bottom, warnings and errors coloured; "FILE: problem" as on the command line.
import React from 'react';
import {Box, Text} from 'ink';
import type {Message} from '../state/common.js';
import {useColour} from '../theme.js';

export function LogView({messages, height, width}: {messages: Message[]; height: number; width: number}) {
  const c = useColour();
  const shown = height > 0 ? messages.slice(-height) : [];
  return (
    <Box flexDirection="column" width={width} height={Math.max(0, height)}>
      {shown.map((m, i) => (
        <Text key={i} wrap="truncate" color={m.level === 'error' ? c('red') : m.level === 'warning' ? c('yellow') : undefined}>
          {m.level === 'info' ? '' : `${m.level}: `}
          {m.file ? `${m.file}: ` : ''}
          {m.text}
          {m.hint ? ` - ${m.hint}` : ''}
        </Text>
      ))}
    </Box>
  );
}
