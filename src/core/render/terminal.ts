// Whether and how to colour terminal output.
/** Colour is off when NO_COLOR is set (any value but empty), when asked, or when the output is not a terminal. */
export function colourEnabled(opts: {isTTY: boolean; noColorFlag?: boolean; env?: NodeJS.ProcessEnv}): boolean {
  const env = opts.env ?? process.env;
  if (opts.noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return opts.isTTY;
}

/** 256 colours where the terminal does not announce truecolor (COLORTERM), e.g. some tmux and SSH setups. */
export function colourPalette(env: NodeJS.ProcessEnv = process.env): 'truecolor' | '256' {
  const ct = (env.COLORTERM ?? '').toLowerCase();
  return ct === 'truecolor' || ct === '24bit' ? 'truecolor' : '256';
}
