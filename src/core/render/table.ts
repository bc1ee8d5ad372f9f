// Plain text tables: columns padded to their widest cell, numbers right-aligned.
export function formatNumber(v: number, digits = 3): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}

export function table(header: string[], rows: string[][], rightAlign: boolean[] = []): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (rightAlign[i] ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
}

/** Visible width of a line that may hold SGR colour codes. */
export function visibleWidth(line: string): number {
  // eslint-disable-next-line no-control-regex
  return [...line.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

/** Blocks of lines next to each other, each padded to its own width, separated by `gap` spaces. */
export function sideBySide(blocks: string[][], gap = 2): string[] {
  const widths = blocks.map((b) => Math.max(0, ...b.map(visibleWidth)));
  const height = Math.max(0, ...blocks.map((b) => b.length));
  const out: string[] = [];
  for (let r = 0; r < height; r++) {
    out.push(
      blocks
        .map((b, i) => {
          const line = b[r] ?? '';
          return line + ' '.repeat(widths[i] - visibleWidth(line));
        })
        .join(' '.repeat(gap))
        .trimEnd(),
    );
  }
  return out;
}
