// The engine's tests with the interpreter the CLI would use; "no tests collected" (pytest exit 5) is a failure.
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const {resolvePython, engineEnv, PythonNotFound} = await import(pathToFileURL(path.join(root, 'dist', 'core', 'python.js')).href);
let python;
try {
  python = await resolvePython({env: process.env});
} catch (e) {
  if (!(e instanceof PythonNotFound)) throw e;
  console.error(`pytest: ${e.message}`);
  process.exit(1);
}
console.log(`pytest: ${python.path} (${python.why})`);
const r = spawnSync(python.path, ['-m', 'pytest', 'py', '-q', ...process.argv.slice(2)], {stdio: 'inherit', cwd: root, env: engineEnv(process.env)});
if (r.status === 5) {
  console.error('pytest: no tests were collected; that is not a pass');
  process.exit(1);
}
process.exit(r.status ?? 1);
