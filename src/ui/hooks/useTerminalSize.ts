// The terminal's columns and rows, updated on resize; a fixed size wins (tests, embedding).
import {useEffect, useState} from 'react';
import {useStdout} from 'ink';
import type {Size} from '../theme.js';

export function useTerminalSize(fixed?: Partial<Size>): Size {
  const {stdout} = useStdout();
  const read = (): Size => ({
    columns: fixed?.columns ?? (stdout.columns || 80),
    rows: fixed?.rows ?? (stdout.rows || 24),
  });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    onResize();
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stdout, fixed?.columns, fixed?.rows]);
  return size;
}
