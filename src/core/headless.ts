// Plain progress lines for terminals without the UI, CI logs and cluster jobs; --json prints one object at the end.
import type {Job, JobResult} from './app/types.js';
import {type EngineEvent, type EventOf, metricNumber} from './events.js';
import {ensemblePostprocessText, isCvSummary} from './folds.js';
import {fmtDuration, fmtValue, fmtZyx} from './format.js';

export interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ReporterOptions {
  command: string;
  /** Lines go here (stderr when --json so stdout holds only the JSON). */
  out: Out;
  /** Errors and the failure summary go here (default: out). */
  err?: Out;
  /** Where the final JSON object goes; set only with --json. */
  json?: Out;
  color?: boolean;
  now?: () => number;
  /** Say how long it took in the summary (not for `watch`, which did not run it). */
  showDuration?: boolean;
}

const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '-' : v.toFixed(digits));
const fmtLr = (v: number) => v.toExponential(2);
const fmtMetric = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3)) : fmtValue(v));

/** A summary statistic: "mean ± std", or, when cases had no surface (infinite distances), "inf (N of M cases)". */
function statText(st: {mean?: unknown; std?: unknown; n?: unknown; n_inf?: unknown}): string {
  const mean = metricNumber((st.mean ?? null) as never);
  const nInf = typeof st.n_inf === 'number' ? st.n_inf : 0;
  const n = typeof st.n === 'number' ? st.n : null;
  if (!Number.isFinite(mean)) return `${fmtValue(mean)}${nInf ? ` (${fmtValue(nInf)} of ${n === null ? '?' : fmtValue(n)} cases inf)` : ''}`;
  const std = metricNumber((st.std ?? null) as never);
  return `${fmtMetric(mean)}${Number.isFinite(std) ? ` ± ${fmtMetric(std)}` : ''}${nInf ? ` (${fmtValue(nInf)} inf left out)` : ''}`;
}
const METRIC_ORDER = ['dice', 'iou', 'hd95', 'assd', 'precision', 'recall', 'abs_vol_diff_ml', 'rel_vol_diff'];

function metricText(metrics: Record<string, unknown>, pick: (v: unknown) => number): string {
  const keys = Object.keys(metrics).sort((a, b) => (METRIC_ORDER.indexOf(a) + 99) % 99 - (METRIC_ORDER.indexOf(b) + 99) % 99);
  return keys.map(k => `${k} ${fmtMetric(pick(metrics[k]))}`).join('  ');
}

export function epochLine(e: EventOf<'epoch_end'>): string {
  const width = String(e.epochs).length;
  const parts = [`epoch ${String(e.epoch).padStart(width)}/${e.epochs}`, `loss ${fmt(e.train_loss)}`];
  if (e.val_loss !== null && e.val_loss !== undefined) parts.push(`val ${fmt(e.val_loss)}`);
  if (e.val_dice !== null && e.val_dice !== undefined) {
    parts.push(`dice ${fmt(e.val_dice)}${e.is_best ? ' *' : ''}`);
  }
  if (e.best_dice !== null && e.best_dice !== undefined) parts.push(`best ${fmt(e.best_dice)}`);
  parts.push(`lr ${fmtLr(e.lr)}`, `${e.seconds.toFixed(1)}s`, `eta ${fmtDuration(e.eta_seconds)}`);
  return parts.join('  ');
}

/** One line per event worth a line; null for events that are shown only in the final summary or not at all. */
export function eventLine(e: EngineEvent): string | null {
  switch (e.type) {
    case 'run_start': {
      const bits = [e.torch ? `torch ${e.torch}` : null, e.device, e.world_size && e.world_size > 1 ? `${e.world_size} processes` : null];
      const resumed = e.resumed_from_epoch ? `, resuming after epoch ${e.resumed_from_epoch}` : '';
      const about = bits.filter(Boolean).join(', ');
      return `${e.command}${e.run_dir ? ` ${e.run_dir}` : ''}${about ? ` (${about})` : ''}${resumed}`;
    }
    case 'data_summary': {
      const labels = Object.entries(e.labels).filter(([k]) => k !== '0').map(([k, v]) => `${k}=${v}`).join(', ');
      const cache = e.cache_misses || e.cache_hits ? `, cache ${e.cache_hits ?? 0} reused ${e.cache_misses ?? 0} new` : '';
      return `data: ${e.cases} cases (${e.train_cases} train, ${e.val_cases} val), labels ${labels || '-'}, `
        + `spacing ${fmtZyx(e.spacing, 'mm')}, patch ${fmtZyx(e.patch)}${cache}`;
    }
    case 'epoch_end':
      return epochLine(e);
    case 'case_metrics': {
      const pos = e.index !== null && e.index !== undefined && e.total ? ` (${e.index}/${e.total})` : '';
      return `case ${e.case}${pos} ${e.label}: ${metricText(e.metrics, v => metricNumber(v as never))}`;
    }
    case 'fold': {
      const where = `fold ${e.fold}/${e.folds}`;
      if (e.status === 'started') return `${where}: training in ${e.run_dir}`;
      return `${where} ${e.status}${e.val_dice !== null && e.val_dice !== undefined ? `: validation Dice ${fmt(e.val_dice)}` : ''}`;
    }
    case 'eval_summary': {
      const lines = [isCvSummary(e) ? `cross-validation: ${e.cases} cases -> ${e.out_dir}` : `evaluated ${e.cases} cases -> ${e.out_dir}`];
      for (const [label, metrics] of Object.entries(e.summary)) {
        const parts = Object.entries(metrics).sort(([a], [b]) => (METRIC_ORDER.indexOf(a) + 99) % 99 - (METRIC_ORDER.indexOf(b) + 99) % 99)
          .map(([m, st]) => `${m} ${statText(st)}`);
        lines.push(`  ${label}: ${parts.join('  ')}`);
      }
      if (e.postprocess) lines.push(`  ${ensemblePostprocessText(e.postprocess)}`);
      return lines.join('\n');
    }
    case 'warning':
      return `warning: ${e.file ? `${e.file}: ` : ''}${e.message}${e.hint ? ` (${e.hint})` : ''}`;
    case 'error':
      return `error: ${e.file ? `${e.file}: ` : ''}${e.message}${e.hint ? ` (${e.hint})` : ''}`;
    default:
      return null;
  }
}

export class HeadlessReporter {
  private readonly started: number;
  private readonly epochs: EventOf<'epoch_end'>[] = [];
  private readonly cases: EventOf<'case_metrics'>[] = [];
  private readonly warnings: string[] = [];
  private readonly errors: string[] = [];
  private evalSummary?: EventOf<'eval_summary'>;
  private runDir?: string;
  /** The last epoch started or ended, and of how many (for "stopped watching at epoch 12/21"). */
  epoch: {epoch: number; epochs: number} | null = null;
  private lastProgress = new Map<string, number>();
  /** A cross-validation's folds as last told (status, validation Dice), and its cv summary. */
  private readonly folds = new Map<number, {status: string; val_dice: number | null}>();
  private foldCount = 0;
  private cv?: EventOf<'eval_summary'>;

  constructor(private readonly opts: ReporterOptions) {
    this.started = (opts.now ?? Date.now)();
  }

  line(text: string, tone?: 'warn' | 'error' | 'good'): void {
    const codes = {warn: '33', error: '31', good: '32'};
    const colored = this.opts.color && tone ? `\u001b[${codes[tone]}m${text}\u001b[0m` : text;
    (tone === 'error' ? this.opts.err ?? this.opts.out : this.opts.out).write(colored + '\n');
  }

  onEvent(e: EngineEvent): void {
    if (e.type === 'run_start' && e.run_dir) this.runDir = e.run_dir;
    if (e.type === 'epoch_end') {
      this.epochs.push(e);
      this.epoch = {epoch: e.epoch, epochs: e.epochs};
    }
    if (e.type === 'epoch_start' && !this.epoch) this.epoch = {epoch: e.epoch - 1, epochs: e.epochs};
    if (e.type === 'case_metrics') this.cases.push(e);
    if (e.type === 'eval_summary') this.evalSummary = e;
    if (e.type === 'warning') this.warnings.push(eventLine(e)!.replace(/^warning: /, ''));
    if (e.type === 'error') this.errors.push(eventLine(e)!.replace(/^error: /, ''));
    if (e.type === 'progress') return this.onProgress(e);
    if (e.type === 'fold' && typeof e.fold === 'number') {
      if (this.folds.get(e.fold)?.status === e.status) return; // told once per change
      this.folds.set(e.fold, {status: e.status, val_dice: e.val_dice ?? null});
      this.foldCount = e.folds;
    }
    if (e.type === 'eval_summary' && isCvSummary(e)) this.cv = e;
    // Bad-input errors end up in the final lines; printing them twice would be noise.
    const text = e.type === 'error' && e.kind === 'bad_input' ? null : eventLine(e);
    if (text !== null) this.line(text, e.type === 'warning' ? 'warn' : e.type === 'error' ? 'error' : undefined);
  }

  /** Print a job's events as they come; resolves with its result. */
  async follow(job: Job): Promise<JobResult> {
    for await (const e of job.events) this.onEvent(e);
    return job.done;
  }

  /** Progress is throttled to one line per stage every 5 s, plus the last. */
  private onProgress(e: EventOf<'progress'>): void {
    const now = (this.opts.now ?? Date.now)();
    const last = this.lastProgress.get(e.stage);
    if (e.done < e.total && last !== undefined && now - last < 5000) return;
    this.lastProgress.set(e.stage, now);
    this.line(`${e.stage} ${e.done}/${e.total}${e.item ? ` ${e.item}` : ''}`);
  }

  /** The final line(s), or the JSON object with --json. Returns the exit code to use. */
  finish(result: JobResult, extra: {hint?: string; data?: Record<string, unknown>; doneText?: string} = {}): number {
    const seconds = ((this.opts.now ?? Date.now)() - this.started) / 1000;
    const runDir = result.paths.runDir ?? result.paths.outDir ?? this.runDir;
    const best = this.bestEpoch();
    const files = result.paths.files;
    if (this.opts.json) {
      const object = {
        command: this.opts.command, status: result.status, exit_code: result.exitCode, seconds: Math.round(seconds * 10) / 10,
        run_dir: result.paths.runDir ?? null, out_dir: result.paths.outDir ?? null, report: result.paths.report ?? null,
        log_file: result.paths.logFile ?? null, files: files ?? null,
        best_dice: best?.best ?? null, best_epoch: best?.epoch ?? null,
        epochs: this.epochs.map(e => ({epoch: e.epoch, train_loss: e.train_loss, val_loss: e.val_loss ?? null,
          val_dice: e.val_dice ?? null, lr: e.lr, seconds: e.seconds})),
        cases: this.cases.map(c => ({case: c.case, label: c.label, metrics: c.metrics})),
        eval: this.evalSummary ? {cases: this.evalSummary.cases, out_dir: this.evalSummary.out_dir, summary: this.evalSummary.summary} : null,
        warnings: this.warnings, errors: this.errors, problems: result.problems, hint: extra.hint ?? null,
        ...(this.foldCount ? {folds: [...this.folds].sort(([a], [b]) => a - b).map(([fold, f]) => ({fold, ...f})),
          cv: this.cv ? {cases: this.cv.cases, out_dir: this.cv.out_dir, summary: this.cv.summary} : null} : {}),
        ...extra.data,
      };
      this.opts.json.write(JSON.stringify(object) + '\n');
      return result.exitCode;
    }
    const where = runDir ? `; ${result.paths.runDir ? 'run folder' : 'output in'} ${runDir}` : '';
    if (result.exitCode === 0) {
      let bestText = best ? `, best Dice ${best.best.toFixed(4)} (epoch ${best.epoch})` : '';
      let epochsText = this.epochs.length ? `, ${this.epochs.length} epoch${this.epochs.length > 1 ? 's' : ''}` : '';
      if (this.foldCount) {
        // a cross-validation: its folds and the cross-validated Dice, not one fold's epochs
        const dice = Object.entries(this.cv?.summary ?? {}).find(([, m]) => m.dice);
        epochsText = `, ${this.foldCount} folds`;
        bestText = dice ? `, cv Dice ${statText(dice[1].dice)} (${dice[0]})` : '';
      }
      const took = this.opts.showDuration === false ? '' : ` in ${fmtDuration(seconds)}`;
      const wrote = files?.length ? `; wrote ${files.length === 1 ? files[0] : `${files.length} files in ${result.paths.outDir ?? runDir}`}` : where;
      this.line(extra.doneText ?? `${this.opts.command} done${took}${epochsText}${bestText}${wrote}`, 'good');
    } else if (result.exitCode === 130) {
      this.line(extra.doneText ?? `${this.opts.command} interrupted${this.epochs.length ? ` after epoch ${this.epochs[this.epochs.length - 1].epoch}` : ''}${where}`, 'warn');
    } else {
      // One prefix for every message: "heartseg COMMAND: ..."; a failure names its log.
      const who = `heartseg ${this.opts.command}`;
      const problems = result.problems.length ? result.problems : [`exit code ${result.exitCode}`];
      const log = result.paths.logFile && result.exitCode !== 2 ? `; see ${result.paths.logFile}` : '';
      if (problems.length === 1) this.line(`${who}: ${result.exitCode === 2 ? '' : 'failed: '}${problems[0]}${log}`, 'error');
      else {
        this.line(`${who}: ${result.exitCode === 2 ? '' : 'failed: '}${problems.length} problems${log}:`, 'error');
        for (const p of problems) this.line(`  - ${p}`, 'error');
      }
    }
    if (extra.hint) this.line(extra.hint);
    return result.exitCode;
  }

  private bestEpoch(): {best: number; epoch: number} | undefined {
    let out: {best: number; epoch: number} | undefined;
    for (const e of this.epochs) {
      if (e.val_dice !== null && e.val_dice !== undefined && (!out || e.val_dice > out.best)) out = {best: e.val_dice, epoch: e.epoch};
    }
    return out;
  }
}
