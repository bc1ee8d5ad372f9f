// Every screen's frame: a title line, the body, and the key help line, filling the terminal.
import React from 'react';
import {Box, Text} from 'ink';
import {KeyHelp, type KeyHint} from './KeyHelp.js';
import {useColour, useSize} from '../theme.js';

export interface FrameProps {
  title: string;
  status?: string;
  keys: KeyHint[];
  children: React.ReactNode;
}

/** Rows a screen's body may use: the terminal minus the title and key lines, and one spare row for Ink. */
export function bodyRows(rows: number): number {
  return Math.max(4, rows - 3);
}

export function Frame({title, status, keys, children}: FrameProps) {
  const {columns, rows} = useSize();
  const c = useColour();
  return (
    <Box flexDirection="column" width={columns} height={Math.max(6, rows - 1)}>
      <Box width={columns}>
        <Text bold color={c('cyan')} wrap="truncate">
          heartseg › {title}
        </Text>
        <Box flexGrow={1} />
        {status ? (
          <Text dimColor wrap="truncate">
            {status}
          </Text>
        ) : null}
      </Box>
      <Box flexDirection="column" height={bodyRows(rows)} width={columns} overflow="hidden">
        {children}
      </Box>
      <KeyHelp keys={keys} />
    </Box>
  );
}
