// runApp: the full-screen terminal UI on the real core; the terminal is restored and processes stopped on exit.
import React from 'react';
import {createCore} from '../core/api.js';

const ALT_SCREEN_ON = '\u001B[?1049h\u001B[H';
const ALT_SCREEN_OFF = '\u001B[?1049l';

/** Run the full-screen app until the person quits; returns the exit code (130 after Ctrl-C or a signal). */
export async function runApp(opts: {runsDir: string; python?: string; data?: string; cwd?: string}): Promise<number> {
  const stdout = process.stdout;
  const alternate = stdout.isTTY === true;
  // We only get here in a terminal; Ink in CI mode would print nothing but the last frame, so it must not see CI.
  const env = process.env;
  const looksLikeCi = 'CI' in env || 'CONTINUOUS_INTEGRATION' in env || Object.keys(env).some((k) => k.startsWith('CI_'));
  if (alternate && looksLikeCi) env.CI = '0'; // is-in-ci reads CI=0 as not CI
  const [{render}, {App}] = await Promise.all([import('ink'), import('./root.js')]);
  const core = createCore({...opts, keepBridge: true});
  let code = 0;
  if (alternate) stdout.write(ALT_SCREEN_ON);
  const instance = render(<App core={core} onExit={(c) => (code = c)} />, {exitOnCtrlC: false, patchConsole: true});
  const onSignal = () => {
    code = 130;
    core
      .shutdown()
      .catch(() => undefined)
      .finally(() => instance.unmount());
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    await instance.waitUntilExit();
  } finally {
    for (const s of signals) process.off(s, onSignal);
    await core.shutdown().catch(() => undefined);
    if (alternate) stdout.write(ALT_SCREEN_OFF);
  }
  return code;
}
