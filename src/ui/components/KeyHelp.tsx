// The bottom line: the keys this screen understands.
import React from 'react';
import {Text} from 'ink';
import {useColour} from '../theme.js';

export type KeyHint = [key: string, action: string];

export function KeyHelp({keys}: {keys: KeyHint[]}) {
  const c = useColour();
  return (
    <Text wrap="truncate">
      {keys.map(([k, a], i) => (
        <Text key={k + a}>
          {i > 0 ? '  ' : ''}
          <Text bold color={c('yellow')}>
            {k}
          </Text>
          <Text dimColor> {a}</Text>
        </Text>
      ))}
    </Text>
  );
}
