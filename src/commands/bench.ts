// heartseg bench [--quick|--smoke] [--gpu] [--lines a,b] [--skip a,b] [--out FILE] [--data DIR] [--json]
// The engine measures data_sampling, train_step, inference and time_to_dice (python -m heartseg bench); this
// file measures the analyze line itself, since that line compares this front's analysis with the engine's,
// merges it into bench/results.json and prints the table.
import {existsSync, promises as fsp, readFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {execa} from 'execa';
import type {Out} from '../core/headless.js';
import {pkgRoot, pyRoot} from '../core/paths.js';
import {PythonNotFound, resolvePython} from '../core/python.js';

export const LINES = ['data_sampling', 'train_step', 'inference', 'analyze', 'time_to_dice'] as const;

export interface BenchIO {
  stdout: Out;
  stderr: Out;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface BenchRecord {
  name: string;
  ours: number | null;
  baseline: number | null;
  ratio: number | null;
  unit: string;
  repeats: number;
  peak_rss_mb: number | null;
  note: string;
  [extra: string]: unknown;
}

export interface BenchResults {
  machine: Record<string, unknown>;
  results: BenchRecord[];
}

export const BENCH_HELP = `Usage: heartseg bench [--quick | --smoke] [--gpu] [--lines a,b] [--skip a,b] [--out FILE]

Measure speed and memory against a baseline run in the same session; write bench/results.json and print a table.
Lines: ${LINES.join(', ')}. ratio = how many times faster ours is (above 1 means faster).

Options:
  --quick         fewer repeats and smaller settings (under 3 minutes on 2 cores); time_to_dice reuses the last
                  full measurement
  --smoke         tiny sizes: checks the harness, measures nothing useful
  --gpu           add the CUDA lines (AMP, channels_last_3d, torch.compile, MFU); skipped without CUDA
  --lines LIST    only these lines (comma-separated)
  --skip LIST     leave these lines out
  --out FILE      results file, merged with earlier lines (default bench/results.json)
  --data DIR      dataset for data_sampling and analyze (default ../shared/data/la2018, else synthetic)
  --python PATH   Python interpreter for the engine
  --json          print the results JSON instead of the table
  -h, --help      this help
`;

/** How many times faster ours is: ours/baseline for rates (unit ending in /s), baseline/ours for seconds. */
export function speedRatio(ours: number | null, baseline: number | null, unit: string): number | null {
  if (ours === null || baseline === null || !(ours > 0) || !(baseline > 0)) return null;
  if (!Number.isFinite(ours) || !Number.isFinite(baseline)) return null;
  if (unit.endsWith('/s')) return ours / baseline;
  if (unit === 's') return baseline / ours;
  throw new Error(`unit must be a rate ending in /s or seconds, got ${unit}`);
}

/** Records measured now replace the same names; earlier ones stay in place; new names go last. */
export function mergeResults(old: BenchRecord[], fresh: BenchRecord[]): BenchRecord[] {
  const byName = new Map(fresh.map(r => [r.name, r]));
  const out = old.map(r => {
    const f = byName.get(r.name);
    byName.delete(r.name);
    return f ?? r;
  });
  return [...out, ...fresh.filter(r => byName.has(r.name))];
}

const fmt = (v: number | null | undefined): string =>
  v === null || v === undefined ? '-' : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString();

export function formatTable(results: BenchRecord[]): string {
  const head = ['line', 'ours', 'baseline', 'unit', 'ratio', 'n', 'peak MB', 'note'];
  const rows = [head, ...results.map(r => [r.name, fmt(r.ours), fmt(r.baseline), r.unit,
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`, String(r.repeats), fmt(r.peak_rss_mb), r.note ?? ''])];
  const widths = head.slice(0, -1).map((_, i) => Math.max(...rows.map(row => row[i].length)));
  return rows.map(row => [...row.slice(0, -1).map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))), row.at(-1)]
    .join('  ').trimEnd()).join('\n');
}

export function record(name: string, ours: number | null, baseline: number | null, unit: string, repeats: number,
  peak: number | null, note: string, extra: Record<string, unknown> = {}): BenchRecord {
  const ratio = speedRatio(ours, baseline, unit);
  const round = (v: number | null) => (v === null ? null : Number(v.toPrecision(4)));
  return {name, ours: round(ours), baseline: round(baseline), ratio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
    unit, repeats, peak_rss_mb: peak, note, ...extra};
}

/** Peak resident memory of a child (VmHWM), sampled from /proc while it runs; null where /proc is absent. */
function readHwmMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
  } catch {
    return null;
  }
}

interface ProcessRun {seconds: number; code: number | null; stdout: string; stderr: string; peakMb: number | null}

export async function timeProcess(file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<ProcessRun> {
  const t0 = performance.now();
  const child = execa(file, args, {env, cwd, reject: false, stdin: 'ignore', extendEnv: false});
  let peak: number | null = null;
  const poll = setInterval(() => {
    const v = child.pid === undefined ? null : readHwmMb(child.pid);
    if (v !== null) peak = Math.max(peak ?? 0, v);
  }, 20);
  const r = await child;
  clearInterval(poll);
  return {seconds: (performance.now() - t0) / 1000, code: r.exitCode ?? null, stdout: String(r.stdout), stderr: String(r.stderr), peakMb: peak};
}

function caseCount(stdout: string): number | null {
  try {
    const body = JSON.parse(stdout) as {cases?: unknown};
    return Array.isArray(body.cases) ? body.cases.length : null;
  } catch {
    return null;
  }
}

type Side = {values: number[]; peak: number | null; cases: number | null} | {skipped: string};

async function measureSide(label: string, file: string, args: string[], repeats: number, env: NodeJS.ProcessEnv, cwd: string): Promise<Side> {
  const first = await timeProcess(file, args, env, cwd); // warms the page cache for both sides alike
  if (first.code !== 0) {
    const tail = first.stderr.trim().split('\n').at(-1) ?? 'no output';
    return {skipped: `${label} analyze failed (exit ${first.code}): ${tail.slice(0, 200)}`};
  }
  const runs: ProcessRun[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await timeProcess(file, args, env, cwd));
  const bad = runs.find(r => r.code !== 0);
  if (bad) return {skipped: `${label} analyze failed on a repeat (exit ${bad.code}): ${(bad.stderr.trim().split('\n').at(-1) ?? '').slice(0, 200)}`};
  const peaks = runs.map(r => r.peakMb).filter((v): v is number => v !== null);
  return {values: runs.map(r => r.seconds), peak: peaks.length ? Math.max(...peaks) : null, cases: caseCount(first.stdout)};
}

export const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

const ANALYZE_REPEATS: Record<string, number> = {smoke: 1, quick: 2, full: 5};

/** The analyze line: this front's `analyze DATA --json` vs the engine's, whole processes, start-up included. */
export async function measureAnalyze(mode: string, python: string, data: string | undefined, env: NodeJS.ProcessEnv, cwd: string): Promise<BenchRecord> {
  const pyEnv = {...env, PYTHONPATH: [pyRoot(), env.PYTHONPATH].filter(Boolean).join(path.delimiter)};
  const ctx = JSON.stringify({mode, data: data ?? '', cache_dir: env.HEARTSEG_CACHE ?? ''});
  const where = await execa(python, ['-m', 'heartseg.bench.analyze', ctx], {env: pyEnv, reject: false, extendEnv: false, stdin: 'ignore'});
  if (where.exitCode !== 0) return record('analyze', null, null, 's', 0, null, `skipped: no dataset (${String(where.stderr).trim().split('\n').at(-1)})`, {skipped: 'no dataset'});
  const {path: folder, what} = JSON.parse(String(where.stdout).trim().split('\n').at(-1)!) as {path: string; what: string};
  const cli = path.join(pkgRoot(), 'dist', 'cli.js');
  if (!existsSync(cli)) return record('analyze', null, null, 's', 0, null, `skipped: ${cli} is missing (npm run build)`, {skipped: 'not built'});
  const repeats = ANALYZE_REPEATS[mode] ?? 3;
  const ours = await measureSide("the front's (TypeScript)", process.execPath, [cli, 'analyze', folder, '--json'], repeats, env, cwd);
  const base = await measureSide("the engine's", python, ['-m', 'heartseg', 'analyze', folder, '--json'], repeats, pyEnv, cwd);
  const skipped = [ours, base].filter((s): s is {skipped: string} => 'skipped' in s).map(s => s.skipped);
  if ('skipped' in ours || 'skipped' in base) return record('analyze', null, null, 's', 0, null, `skipped: ${skipped.join('; ')}`, {skipped: skipped.join('; ')});
  let note = `${what}; whole processes (start-up included), median of ${repeats} after one warm-up run; measured by the TypeScript front`;
  note += ours.cases === base.cases ? `; both read ${ours.cases} cases` : `; case counts DIFFER (TS ${ours.cases}, engine ${base.cases})`;
  return record('analyze', median(ours.values), median(base.values), 's', repeats, ours.peak, note, {baseline_peak_rss_mb: base.peak, mode});
}

function machineFromNode(): Record<string, unknown> {
  return {cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, ram_gb: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    os: `${os.type()} ${os.release()}`, node: process.version, gpus: []};
}

export async function readResults(file: string): Promise<BenchResults | null> {
  try {
    const body = JSON.parse(await fsp.readFile(file, 'utf8')) as BenchResults;
    return Array.isArray(body.results) ? body : null;
  } catch {
    return null;
  }
}

export async function writeResults(file: string, body: BenchResults): Promise<void> {
  await fsp.mkdir(path.dirname(file), {recursive: true});
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await fsp.writeFile(tmp, JSON.stringify(body, null, 2) + '\n');
  await fsp.rename(tmp, file);
}

function parse(argv: string[]) {
  const {values} = parseArgs({args: argv, strict: true, allowPositionals: false, options: {
    quick: {type: 'boolean'}, smoke: {type: 'boolean'}, gpu: {type: 'boolean'}, lines: {type: 'string'}, skip: {type: 'string'},
    out: {type: 'string'}, data: {type: 'string'}, python: {type: 'string'}, json: {type: 'boolean'}, help: {type: 'boolean', short: 'h'},
    ci: {type: 'boolean'}}});
  const names = (text: string | undefined, flag: string): string[] => {
    const list = (text ?? '').split(',').map(s => s.trim()).filter(Boolean);
    const bad = list.find(n => !(LINES as readonly string[]).includes(n));
    if (bad) throw new Error(`${flag}: unknown line ${JSON.stringify(bad)} (lines: ${LINES.join(', ')})`);
    return list;
  };
  if (values.quick && values.smoke) throw new Error('--quick and --smoke exclude each other');
  const skip = new Set(names(values.skip, '--skip'));
  const lines = (names(values.lines, '--lines').length ? names(values.lines, '--lines') : [...LINES]).filter(n => !skip.has(n));
  return {values, lines, mode: values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'};
}

/** `heartseg bench`: exit 0 when every requested line was measured or skipped with a reason, 1 when the engine failed. */
export async function runBench(argv: string[], io: BenchIO): Promise<number> {
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  let opts;
  try {
    opts = parse(argv);
  } catch (e) {
    io.stderr.write(`heartseg bench: ${(e as Error).message.replace(/\. To specify a positional.*$/s, '')} (see --help)\n`);
    return 2;
  }
  const {values, lines, mode} = opts;
  if (values.help) {
    io.stdout.write(BENCH_HELP);
    return 0;
  }
  const data = values.data ? path.resolve(cwd, values.data) : undefined;
  if (data && !existsSync(path.join(data, 'dataset.json')) && !existsSync(path.join(data, 'imagesTr'))) {
    io.stderr.write(`heartseg bench: --data ${values.data}: not a Decathlon-style dataset (no dataset.json or imagesTr/)\n`);
    return 2;
  }
  let python: string;
  try {
    python = (await resolvePython({flag: values.python, env})).path;
  } catch (e) {
    io.stderr.write(`heartseg bench: ${(e as Error).message}\n`);
    return e instanceof PythonNotFound && e.usage ? 2 : 1;
  }
  const out = path.resolve(cwd, values.out ?? path.join('bench', 'results.json'));
  const engineLines = lines.filter(n => n !== 'analyze');
  let failed = false;
  if (engineLines.length) {
    const args = ['-m', 'heartseg', 'bench', '--lines', engineLines.join(','), '--out', out,
      ...(mode === 'full' ? [] : [`--${mode}`]), ...(values.gpu ? ['--gpu'] : []), ...(data ? ['--data', data] : [])];
    const pyEnv = {...env, PYTHONPATH: [pyRoot(), env.PYTHONPATH].filter(Boolean).join(path.delimiter)};
    const child = execa(python, args, {env: pyEnv, cwd, reject: false, stdin: 'ignore', extendEnv: false, stdout: 'ignore', stderr: 'pipe', buffer: false});
    child.stderr?.on('data', (chunk: Buffer) => io.stderr.write(chunk.toString()));
    const r = await child;
    if (r.exitCode !== 0) {
      io.stderr.write(`heartseg bench: the engine's benchmarks exited with ${r.exitCode}; lines measured so far are kept\n`);
      failed = true;
    }
  }
  const body: BenchResults = (await readResults(out)) ?? {machine: machineFromNode(), results: []};
  if (lines.includes('analyze')) {
    io.stderr.write(`bench: analyze (${mode}) ...\n`);
    const analyze = await measureAnalyze(mode, python, data, env, cwd);
    analyze.measured ??= new Date().toISOString();
    body.results = mergeResults(body.results, [analyze]);
    await writeResults(out, body);
  }
  const shown = body.results.filter(r => lines.includes(r.name.replace(/_cuda.*$/, '')));
  io.stdout.write(values.json ? JSON.stringify(body) + '\n' : formatTable(shown.length ? shown : body.results) + '\n');
  io.stderr.write(`written: ${out}\n`);
  return failed ? 1 : 0;
}
