// The engine's own words from its stderr: "heartseg: ..." lines, with the "  - " problem lines that follow a
// "heartseg: N problems:" head. One reading for jobs and for short questions.
export function engineReasons(stderrLines: readonly string[]): string[] {
  const own: string[] = [];
  stderrLines.forEach((l, i) => {
    if (!l.startsWith('heartseg: ')) return;
    const text = l.slice('heartseg: '.length);
    if (!/^\d+ problems:$/.test(text)) own.push(text);
    for (let j = i + 1; j < stderrLines.length && stderrLines[j].startsWith('  - '); j++) own.push(stderrLines[j].slice(4).trim());
  });
  return own;
}
