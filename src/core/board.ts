// TensorBoard for a run (or the whole runs folder) on 127.0.0.1 and a free port; stopped with us.
import {existsSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {execa} from 'execa';
import {CONTRACT} from './generated/contract.js';
import {engineEnv} from './python.js';

export interface BoardHandle {
  url: string;
  port: number;
  logdir: string;
  stop(): Promise<void>;
  /** Resolves with TensorBoard's exit code when it ends (stopped or crashed). */
  exited: Promise<number>;
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** What to show: RUN/tensorboard when it exists, else the folder itself (a runs folder shows every run). */
export function boardLogdir(target: string): string {
  const tb = path.join(target, CONTRACT.run_folder.tensorboard);
  return existsSync(tb) ? tb : target;
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, {signal: AbortSignal.timeout(2000)});
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

export async function startBoard(python: string, logdir: string, opts: {timeoutMs?: number; env?: NodeJS.ProcessEnv} = {}): Promise<BoardHandle> {
  const port = await freePort();
  const child = execa(python, ['-m', 'tensorboard.main', '--logdir', logdir, '--host', '127.0.0.1', '--port', String(port)], {
    env: engineEnv(opts.env ?? process.env), extendEnv: false, stdin: 'ignore', reject: false, buffer: false,
    forceKillAfterDelay: 5000, cleanup: true,
  });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter(l => l.trim()));
    tail.splice(0, Math.max(0, tail.length - 20));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitCode: number | undefined;
  const exited = child.then(r => (exitCode = r.exitCode ?? 1));
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  while (!(await answers(url))) {
    if (exitCode !== undefined) throw new Error(`TensorBoard exited (${exitCode}) before it answered: ${tail.at(-1) ?? 'no output'}`);
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`TensorBoard did not answer on ${url} within ${(opts.timeoutMs ?? 120_000) / 1000}s`);
    }
    await new Promise(r => setTimeout(r, 300));
  }
  return {
    url,
    port,
    logdir,
    exited,
    async stop() {
      if (exitCode === undefined) child.kill('SIGTERM');
      await exited;
    },
  };
}
