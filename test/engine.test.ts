import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterEach, describe, expect, it} from 'vitest';
import {Engine, type EngineResult} from '../src/core/engine.js';
import {exitCodeOf} from '../src/core/status.js';
import type {EngineEvent} from '../src/core/events.js';
import {LineSplitter} from '../src/core/lines.js';

const fake = path.resolve(__dirname, 'fixtures', 'fake-engine.mjs');
const tmps: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'hs-engine-'));
  tmps.push(d);
  return d;
};
afterEach(() => {
  while (tmps.length) rmSync(tmps.pop()!, {recursive: true, force: true});
});

function fakeEngine(args: string[], runDir?: string): Engine {
  return new Engine({file: process.execPath, args: [fake, ...args, ...(runDir ? ['--run', runDir] : [])],
    logFile: runDir ? path.join(runDir, 'engine.log') : undefined, forwardSignals: false});
}

describe('LineSplitter', () => {
  const text = 'first {"a":"é"}\nsecond ♥ 🫀 end\r\nthird\n';
  const expected = ['first {"a":"é"}', 'second ♥ 🫀 end', 'third'];
  const bytes = Buffer.from(text, 'utf8');

  it.each([...Array(bytes.length - 1).keys()].map(i => i + 1))('keeps lines whole when cut at byte %i', cut => {
    const lines: string[] = [];
    const s = new LineSplitter(l => lines.push(l));
    s.push(bytes.subarray(0, cut));
    s.push(bytes.subarray(cut));
    s.end();
    expect(lines).toEqual(expected);
  });

  it('handles one byte at a time and a last line without newline', () => {
    const lines: string[] = [];
    const s = new LineSplitter(l => lines.push(l));
    for (const b of Buffer.from('αβ\n🫀')) s.push(Buffer.from([b]));
    expect(lines).toEqual(['αβ']);
    s.end();
    expect(lines).toEqual(['αβ', '🫀']);
  });
});

describe('exitCodeOf (CONTRACT.exit_codes)', () => {
  it.each([
    [0, null, false, 0],
    [1, null, false, 1],
    [2, null, false, 2],
    [130, null, false, 130],
    [7, null, false, 1],
    [null, 'SIGINT', false, 130],
    [null, 'SIGTERM', false, 130],
    [null, 'SIGHUP', false, 130],
    [null, 'SIGKILL', false, 1],
    [null, null, true, 1],
  ] as const)('code %s signal %s spawnFailed %s -> %i', (code, signal, failed, want) => {
    expect(exitCodeOf(code, signal, failed)).toBe(want);
  });
});

describe('Engine with the fake engine', () => {
  it('parses events split mid-line and mid-character, reports invalid lines, keeps engine.log', async () => {
    const run = path.join(tmp(), 'run');
    const engine = fakeEngine(['--scenario', 'train'], run);
    const events: EngineEvent[] = [];
    const invalid: string[] = [];
    engine.on('event', e => events.push(e));
    engine.on('invalid', i => invalid.push(i.error));
    const result = await engine.done;
    expect(result.exitCode).toBe(0);
    expect(result.status).toBe('completed');
    expect(events.map(e => e.type)).toEqual(['run_start', 'epoch_start', 'warning', 'epoch_end', 'epoch_end', 'run_end']);
    const warning = events.find(e => e.type === 'warning');
    expect(warning && 'message' in warning ? warning.message : '').toBe('spacing differs: café ♥ 🫀');
    expect(result.invalidLines).toBe(2);
    expect(invalid[0]).toBe('not JSON');
    expect(invalid[1]).toMatch(/loss/);
    expect(result.runEnd?.best_dice).toBe(0.7);
    const log = readFileSync(path.join(run, 'engine.log'), 'utf8');
    expect(log).toContain('library noise on stdout');
    expect(log).toContain('UserWarning: something harmless');
    expect(log).toContain('last words on stderr');
    expect(result.logFile).toBe(path.join(run, 'engine.log'));
  });

  it("never writes into a folder before the engine's run_start: a refused run leaves another run's log alone", async () => {
    const other = tmp();
    writeFileSync(path.join(other, 'engine.log'), 'the first run\n');
    const result = await new Engine({file: process.execPath, args: [fake, '--scenario', 'bad-input'],
      logFile: path.join(other, 'engine.log'), forwardSignals: false}).done;
    expect(result.exitCode).toBe(2);
    expect(readFileSync(path.join(other, 'engine.log'), 'utf8')).toBe('the first run\n');
  });

  it('leaves nothing on disk when the engine refuses its input (exit 2)', async () => {
    const run = path.join(tmp(), 'run');
    const result = await fakeEngine(['--scenario', 'bad-input'], run).done;
    expect(result.exitCode).toBe(2);
    expect(result.status).toBe('bad_input');
    expect(result.errors[0]?.file).toBe('data/missing');
    expect(result.stderrTail).toContain('heartseg: data/missing: no such folder');
    expect(existsSync(run)).toBe(false);
    expect(result.logFile).toBeUndefined();
  });

  it.each([
    [['--scenario', 'exit', '--exit', '2'], 2, 'bad_input'],
    [['--scenario', 'exit', '--exit', '7'], 1, 'failed'],
    [['--scenario', 'exit', '--exit', '130'], 130, 'interrupted'],
    [['--scenario', 'die', '--signal', 'SIGKILL'], 1, 'failed'],
    [['--scenario', 'die', '--signal', 'SIGTERM'], 130, 'interrupted'],
  ])('maps %j to exit %i', async (args, code, status) => {
    const result: EngineResult = await fakeEngine(args).done;
    expect(result.exitCode).toBe(code);
    expect(result.status).toBe(status);
  });

  it('reports an engine that cannot start as exit 1 with a reason', async () => {
    const engine = new Engine({file: '/nonexistent/python', args: [], forwardSignals: false});
    const result = await engine.done;
    expect(result.exitCode).toBe(1);
    expect(result.spawnError).toMatch(/ENOENT|nonexistent/);
  });

  it('forwards SIGINT once: the engine checkpoints, exits 130, and early output reaches engine.log', async () => {
    const run = path.join(tmp(), 'run');
    const engine = new Engine({file: process.execPath, args: [fake, '--scenario', 'wait-signal', '--run', run], logFile: path.join(run, 'engine.log')});
    await new Promise<void>(resolve => engine.on('output', o => o.line === 'ready' && resolve()));
    process.emit('SIGINT', 'SIGINT'); // as if Ctrl-C reached this process
    const result = await engine.done;
    expect(result.exitCode).toBe(130);
    expect(result.runEnd?.status).toBe('interrupted');
    expect(readFileSync(path.join(run, 'signals.txt'), 'utf8')).toBe('1 SIGINT\n');
    const log = readFileSync(path.join(run, 'engine.log'), 'utf8');
    expect(log.match(/checking inputs/g)).toHaveLength(1);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('forwards SIGTERM (cluster preemption) the same way', async () => {
    const run = path.join(tmp(), 'run');
    const engine = new Engine({file: process.execPath, args: [fake, '--scenario', 'wait-signal', '--run', run], logFile: path.join(run, 'engine.log')});
    await new Promise<void>(resolve => engine.on('output', o => o.line === 'ready' && resolve()));
    process.emit('SIGTERM', 'SIGTERM');
    const result = await engine.done;
    expect(result.exitCode).toBe(130);
    expect(readFileSync(path.join(run, 'signals.txt'), 'utf8')).toBe('1 SIGTERM\n');
  });
});
