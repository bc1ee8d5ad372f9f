// `heartseg board` serves TensorBoard on 127.0.0.1 only: checked on the listening socket itself (/proc/net/tcp*).
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {enginePython, ensureBuilt, startCli, testEnv} from './cli.js';

let tmp: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hs-board-'));
  env = testEnv(await enginePython(), tmp);
});

afterAll(() => {
  if (tmp) rmSync(tmp, {recursive: true, force: true});
});

/** Local addresses of the sockets listening on `port`, as dotted IPv4 or hex IPv6 (kernel byte order). */
export function listeners(port: number): string[] {
  const out: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A: LISTEN
      const [addr, hexPort] = local.split(':');
      if (parseInt(hexPort, 16) !== port) continue;
      out.push(addr.length === 8 ? addr.match(/../g)!.reverse().map(b => parseInt(b, 16)).join('.') : addr);
    }
  }
  return out;
}

const LOOPBACK_V6 = new Set(['00000000000000000000000001000000', '0000000000000000FFFF00000100007F']); // ::1, ::ffff:127.0.0.1

it.skipIf(!existsSync('/proc/net/tcp'))('heartseg board listens on 127.0.0.1 and nowhere else, and stops with Ctrl-C', async () => {
  const runs = path.join(tmp, 'runs');
  mkdirSync(path.join(runs, 'r1', 'tensorboard'), {recursive: true});
  const child = startCli(['board', '--ci', '--runs-dir', runs], {cwd: tmp, env});
  let text = '';
  child.stdout!.on('data', (b: Buffer) => (text += b.toString()));
  const end = Date.now() + 180_000;
  while (!/http:\/\/[^\s/]+:\d+/.test(text)) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`no URL from heartseg board (exit ${child.exitCode}): ${text}`);
    await new Promise(r => setTimeout(r, 100));
  }
  const url = new URL(text.match(/http:\/\/[^\s]+/)![0]);
  expect(url.hostname).toBe('127.0.0.1');
  const port = Number(url.port);
  const bound = listeners(port);
  expect(bound.length).toBeGreaterThan(0);
  expect(bound.filter(a => a !== '127.0.0.1' && !LOOPBACK_V6.has(a))).toEqual([]);
  child.kill('SIGINT');
  const r = await child;
  expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(listeners(port)).toEqual([]); // TensorBoard went with it
});
