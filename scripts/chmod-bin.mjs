// tsc drops the executable bit; the bin entry needs it to run as `heartseg`.
import {chmodSync, existsSync} from 'node:fs';
if (existsSync('dist/cli.js')) chmodSync('dist/cli.js', 0o755);
