// Key sequences and waiting helpers for ink-testing-library tests.
import {vi} from 'vitest';

export const KEY = {
  up: '\u001B[A',
  down: '\u001B[B',
  right: '\u001B[C',
  left: '\u001B[D',
  enter: '\r',
  escape: '\u001B',
  tab: '\t',
  backspace: '\u007F',
  ctrlC: '\u0003',
  pageDown: '\u001B[6~',
  pageUp: '\u001B[5~',
};

/** Wait until the frame satisfies `check` (Ink renders asynchronously). */
export async function until(frame: () => string | undefined, check: (text: string) => boolean, timeout = 3000): Promise<string> {
  let last = '';
  try {
    await vi.waitFor(
      () => {
        last = frame() ?? '';
        if (!check(last)) throw new Error('not yet');
      },
      {timeout, interval: 10},
    );
  } catch {
    throw new Error(`frame never matched; last frame:\n${last}`);
  }
  return last;
}

export const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

/** Type keys one at a time, letting Ink handle each. */
export async function press(stdin: {write: (s: string) => void}, ...keys: string[]): Promise<void> {
  for (const k of keys) {
    stdin.write(k);
    await tick();
  }
}
