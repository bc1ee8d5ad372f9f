// A one-line text prompt: type, Backspace, Enter to accept, Esc to cancel.
import React, {useState} from 'react';
import {Text} from 'ink';
import {useKeys} from '../hooks/useKeys.js';
import {useColour} from '../theme.js';

export interface PromptProps {
  label: string;
  initial?: string;
  onSubmit: (text: string) => void;
  onCancel: () => void;
}

export function Prompt({label, initial = '', onSubmit, onCancel}: PromptProps) {
  const c = useColour();
  const [text, setText] = useState(initial);
  useKeys(
    {
      enter: () => onSubmit(text),
      escape: onCancel,
      backspace: () => setText((t) => t.slice(0, -1)),
    },
    {onText: (t) => setText((old) => old + t.replace(/[\r\n]/g, ''))},
  );
  return (
    <Text wrap="truncate">
      <Text color={c('yellow')}>{label} </Text>
      {text}
      <Text inverse> </Text>
    </Text>
  );
}
