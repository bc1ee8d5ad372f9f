// No shell ever starts a process, and nothing listens beyond 127.0.0.1 unless asked: a scan of the front's sources.
import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {repoRoot} from '../helpers/bad-corpus.js';

interface Line {file: string; n: number; code: string}

function sourceLines(): Line[] {
  const out: Line[] = [];
  for (const dir of ['src', 'scripts']) {
    for (const rel of readdirSync(path.join(repoRoot, dir), {recursive: true}).map(String)) {
      if (!/\.(ts|tsx|mjs|js)$/.test(rel)) continue;
      const file = path.join(dir, rel);
      readFileSync(path.join(repoRoot, file), 'utf8').split('\n').forEach((text, i) => {
        const code = text.replace(/\/\/.*$/, '');
        if (code.trim()) out.push({file, n: i + 1, code});
      });
    }
  }
  return out;
}

/** Whole import statements from child_process (they may span lines). */
function childProcessImports(): {file: string; names: string[]}[] {
  const out: {file: string; names: string[]}[] = [];
  for (const dir of ['src', 'scripts']) {
    for (const rel of readdirSync(path.join(repoRoot, dir), {recursive: true}).map(String)) {
      if (!/\.(ts|tsx|mjs|js)$/.test(rel)) continue;
      const text = readFileSync(path.join(repoRoot, dir, rel), 'utf8');
      for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"](?:node:)?child_process['"]/g)) {
        out.push({file: path.join(dir, rel), names: m[1].split(',').map(s => s.trim().split(/\s+as\s+/)[0]).filter(Boolean)});
      }
    }
  }
  return out;
}

const SHELL: [RegExp, string][] = [
  [/\bshell\s*:(?!\s*false\b)/, 'a shell option (the command line is parsed by /bin/sh)'],
  [/\bexec(Sync)?\s*\(\s*[`'"]/, 'exec/execSync with a command string'],
  [/\b(child_process|cp)\.exec(Sync)?\s*\(/, "child_process's exec/execSync"],
  [/\bexecaCommand(Sync)?\s*\(/, 'execaCommand (a command string)'],
  [/\bspawn(Sync)?\s*\(\s*['"`](\/bin\/)?(ba|z|da)?sh['"`]/, 'a shell started by hand'],
];

describe('no shell starts a process', () => {
  const lines = sourceLines();

  it('scans the sources', () => {
    expect(new Set(lines.map(l => l.file)).size).toBeGreaterThan(30);
    expect(lines.some(l => l.file === path.join('src', 'core', 'engine.ts'))).toBe(true);
  });

  it.each(SHELL)('no %s', (pattern, what) => {
    expect(lines.filter(l => pattern.test(l.code)).map(l => `${l.file}:${l.n}: ${l.code.trim()} (${what})`)).toEqual([]);
  });

  it('child_process is imported without exec or execSync', () => {
    const bad = childProcessImports().filter(i => i.names.some(n => n === 'exec' || n === 'execSync'));
    expect(bad).toEqual([]);
  });

  it.each([
    ["execa('python', ['-m', 'heartseg'], {shell: true})", true],
    ["spawnSync(python, args, {stdio: 'inherit', shell: false})", false],
    ["spawn(cmd, {shell:process.env.SHELL})", true],
    ["execSync('ls -l')", true],
    ["const m = /_(\\d{4})\\.nii/i.exec(f)", false],
    ["await py.exec`import sys`", false],
    ["execaCommand('tensorboard --logdir x')", true],
  ])('the patterns flag %s: %s', (code, flagged) => {
    expect(SHELL.some(([p]) => p.test(code))).toBe(flagged);
  });
});

describe('servers bind to 127.0.0.1', () => {
  it('every listen() and --host in the front names 127.0.0.1 or a host parameter, and none names all interfaces', () => {
    const lines = sourceLines();
    const everywhere = lines.filter(l => /['"`](0\.0\.0\.0|::)['"`]|--bind_all/.test(l.code));
    expect(everywhere.map(l => `${l.file}:${l.n}`)).toEqual([]);
    const listens = lines.filter(l => /\.listen\s*\(/.test(l.code));
    expect(listens.filter(l => !/127\.0\.0\.1|\bhost\b/.test(l.code)).map(l => `${l.file}:${l.n}: ${l.code.trim()}`)).toEqual([]);
    const hosts = lines.filter(l => /['"`]--host['"`]/.test(l.code));
    expect(hosts.filter(l => !/['"`]--host['"`]\s*,\s*['"`]127\.0\.0\.1['"`]/.test(l.code)).map(l => `${l.file}:${l.n}`)).toEqual([]);
  });
});
