// npm install: build the TypeScript (in a clone) and set up the engine's Python environment (idempotent).
// HEARTSEG_SKIP_SETUP=1 skips the Python part (for example when packaging).
import {spawnSync} from 'node:child_process';
import {chmodSync, existsSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = line => console.log(`heartseg postinstall: ${line}`);

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (existsSync(path.join(root, 'tsconfig.json')) && existsSync(tsc)) {
  say('building dist/ (tsc)');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], {stdio: 'inherit', cwd: root});
  if (r.status !== 0) {
    if (!existsSync(path.join(root, 'dist', 'cli.js'))) {
      console.error('heartseg postinstall: the TypeScript build failed and produced no dist/cli.js');
      process.exit(1);
    }
    say('tsc reported type errors (see above); dist/ was still written');
  }
}
const cli = path.join(root, 'dist', 'cli.js');
if (existsSync(cli)) chmodSync(cli, 0o755);

if (process.env.HEARTSEG_SKIP_SETUP === '1') {
  say('HEARTSEG_SKIP_SETUP=1: not setting up Python; run `npx heartseg setup` later');
  process.exit(0);
}
const {runSetup, SetupError} = await import(pathToFileURL(path.join(root, 'dist', 'core', 'setup.js')).href);
try {
  await runSetup({log: line => console.log(line)});
} catch (e) {
  if (!(e instanceof SetupError)) throw e;
  console.error(`heartseg postinstall: setting up Python failed: ${e.message}`);
  console.error('fix the problem and run `npx heartseg setup`, or set HEARTSEG_PYTHON to an interpreter with torch,');
  console.error('or HEARTSEG_SKIP_SETUP=1 to install without the engine environment');
  process.exit(1);
}
