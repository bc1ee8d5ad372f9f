// heartseg doctor: Node, which Python and why, torch, CUDA devices and memory, TensorBoard, the set-up state.
import {setupState} from '../core/setup.js';
import {type CommandSpec, type Context, coreFor, expectPositionals, helpText, parseCommand} from './common.js';

export const help = helpText({
  usage: ['heartseg doctor [--json]'],
  about: 'Check what heartseg runs on: Node, the Python interpreter (which one and why), torch and CUDA with each\n'
    + "device's memory, cuDNN, TensorBoard and the other engine packages, and the state of `heartseg setup`.",
  examples: ['heartseg doctor', 'heartseg doctor --json --python /opt/conda/bin/python'],
});

async function run(argv: string[], ctx: Context): Promise<number> {
  const p = parseCommand(argv, {}, ctx);
  if (p.help) return ctx.stdout.write(help), 0;
  expectPositionals(p, 0, 0, 'heartseg doctor');
  const setup = setupState(ctx.env);
  const found = await coreFor(ctx, p).doctorReport();
  const engine = found.engine;
  const problems = found.problems;
  const report: Record<string, unknown> = {node: process.versions.node, setup: {venv: setup.venv, exists: setup.exists,
    up_to_date: setup.upToDate, dev: setup.dev, requirements_hash: setup.wanted, stamp: setup.stamp},
  python: found.python, via: found.via, ...(found.pythonia_fallback ? {pythonia_fallback: found.pythonia_fallback} : {}), engine};
  report.problems = problems;
  report.ok = problems.length === 0;
  if (p.globals.json) return ctx.stdout.write(JSON.stringify(report) + '\n'), problems.length ? 1 : 0;
  const py = report.python as {path: string; why: string} | null;
  const w = (k: string, v: string) => ctx.stdout.write(`${k.padEnd(12)}${v}\n`);
  w('node', process.versions.node);
  w('python', py ? `${py.path} (${found.python?.version ?? '?'}) — ${py.why}` : 'not found');
  if (engine) {
    w('torch', `${engine.torch ?? 'missing'}${engine.threads ? `, ${engine.threads} CPU threads` : ''}`);
    w('cuda', engine.cuda_available ? `${engine.cuda} (cuDNN ${engine.cudnn ?? '-'})` : 'not available (CPU only)');
    for (const d of engine.devices) w(`  cuda:${d.index}`, `${d.name}, ${(d.total_memory_mb / 1024).toFixed(1)} GiB, sm ${d.capability}${d.bf16 ? ', bf16' : ''}`);
    w('tensorboard', engine.packages.tensorboard ?? 'missing');
    w('packages', Object.entries(engine.packages).filter(([k]) => !['torch', 'tensorboard'].includes(k))
      .map(([k, v]) => `${k} ${v ?? 'not installed'}`).join(', '));
  }
  w('setup', setup.exists ? `${setup.venv} (${setup.upToDate ? 'up to date' : 'requirements changed or not stamped: run heartseg setup'})` : `${setup.venv} not created`);
  w('via', String(report.via ?? '-') + (report.pythonia_fallback ? ` (pythonia failed: ${report.pythonia_fallback})` : ''));
  for (const pr of problems) ctx.stdout.write(`problem: ${pr}\n`);
  ctx.stdout.write(problems.length ? 'not ready\n' : 'ready\n');
  return problems.length ? 1 : 0;
}

export const doctor: CommandSpec = {name: 'doctor', summary: 'check Node, Python, torch, CUDA, TensorBoard and set-up', help, run};
