// A ready sbatch script: resources, environment, `srun torchrun` with c10d rendezvous, checkpoint-and-requeue
// before the time limit, and --resume whenever the run already has a last.pt (requeue, preemption, resubmission).

import {CONTRACT} from './generated/contract.js';

/** The checkpoint whose presence means "resume": the contract's run-folder name. */
const LAST = CONTRACT.run_folder.last;

export interface SlurmOptions {
  python: string;
  pyRoot: string;
  runDir: string;
  config: Record<string, unknown>;
  jobName: string;
  nodes: number;
  gpusPerNode: number;
  /** HH:MM:SS or D-HH:MM:SS, as sbatch takes it. */
  time: string;
  cpusPerTask: number;
  partition?: string;
  account?: string;
  mem?: string;
  /** Seconds before the time limit at which the job is told to checkpoint and requeue. */
  signalSeconds?: number;
  /** Where sbatch writes the job's stdout/stderr (a folder that exists at submission). */
  outputDir: string;
  /** Cross-validation folds (config data.folds with no data.fold): a job array, task k trains fold k. */
  folds?: number;
}

/** A fold's sub-run in the script, for the task's own fold: the contract's name with the task's index. */
const FOLD_DIR = CONTRACT.run_folder.fold_dir.replace('{fold}', '$FOLD');

/** How the folds' models become cross-validated metrics once every array task is done. */
export function collectHint(runDir: string): string {
  return `heartseg train --resume ${shq(runDir)}`;
}

/** Quote for bash single quotes. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const TIME_PATTERN = /^(\d+-)?\d{1,2}:\d{2}:\d{2}$|^\d+$/;

export function slurmScript(o: SlurmOptions): string {
  const array = (o.folds ?? 0) >= 2;
  const sbatch = [
    `#SBATCH --job-name=${o.jobName}`,
    `#SBATCH --nodes=${o.nodes}`,
    '#SBATCH --ntasks-per-node=1',
    `#SBATCH --gpus-per-node=${o.gpusPerNode}`,
    `#SBATCH --cpus-per-task=${o.cpusPerTask}`,
    `#SBATCH --time=${o.time}`,
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.account ? [`#SBATCH --account=${o.account}`] : []),
    ...(array ? [`#SBATCH --array=0-${o.folds! - 1}`] : []),
    `#SBATCH --output=${o.outputDir}/${array ? '%x-%A_%a' : '%x-%j'}.out`,
    '#SBATCH --open-mode=append',
    '#SBATCH --requeue',
    `#SBATCH --signal=B:USR1@${o.signalSeconds ?? 300}`,
  ];
  const config = JSON.stringify(o.config, null, 2);
  const threads = Math.max(1, Math.floor(o.cpusPerTask / Math.max(1, o.gpusPerNode)));
  return `#!/bin/bash
# heartseg training job, written by \`heartseg slurm train\`. Submit with: sbatch THIS_FILE${array ? `
# A job array: one task per cross-validation fold (0..${o.folds! - 1}); afterwards: ${collectHint(o.runDir)}` : ''}
${sbatch.join('\n')}
set -euo pipefail

# --- environment --------------------------------------------------------------
# Load your site's modules here if the Python below needs them, e.g.: module load cuda
PYTHON=${shq(o.python)}
export PYTHONPATH=${shq(o.pyRoot)}\${PYTHONPATH:+:\$PYTHONPATH}
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${threads}
RUN=${shq(o.runDir)}
# torchrun, from the same environment as the engine.
TORCHRUN=("$PYTHON" -m torch.distributed.run)

# The config travels inside this script, so the job does not depend on files that may change after submission.
CONFIG="$(mktemp "\${TMPDIR:-/tmp}/heartseg-config.XXXXXX.json")"
${array ? `PARENT_CONFIG="$(mktemp "\${TMPDIR:-/tmp}/heartseg-cv.XXXXXX.json")"
cat > "$PARENT_CONFIG" <<'HEARTSEG_CONFIG'
${config}
HEARTSEG_CONFIG

# --- one fold per array task ---------------------------------------------------
# Task k trains fold k of ${o.folds} into $RUN/${FOLD_DIR.replace('$FOLD', 'k')}, an ordinary run. The engine writes $RUN/${CONTRACT.run_folder.config}
# (the cross-validation's config; every task writes the same, once) and this fold's config, and removes a fold
# folder that never finished an epoch. When every task is done, the cross-validated metrics ($RUN/${CONTRACT.run_folder.cv}/):
#   ${collectHint(o.runDir)}
FOLD="$SLURM_ARRAY_TASK_ID"
"$PYTHON" -c 'import sys; from heartseg.train.folds import fold_task; fold_task(*sys.argv[1:])' "$PARENT_CONFIG" "$RUN" "$FOLD" "$CONFIG"
rm -f "$PARENT_CONFIG"
TARGET="$RUN/${FOLD_DIR}"` : `cat > "$CONFIG" <<'HEARTSEG_CONFIG'
${config}
HEARTSEG_CONFIG
TARGET="$RUN"`}

# --- resume after preemption, requeue or resubmission -----------------------
RESUME=()
if [ -f "$TARGET/${LAST}" ]; then
  RESUME=(--resume)
  echo "heartseg: resuming $TARGET from ${LAST}"
fi

# --- rendezvous ------------------------------------------------------------------
# (sed reads every line: head would close the pipe early and pipefail would end the job on SIGPIPE)
MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)"
MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))

# --- before the time limit: checkpoint, then requeue -----------------------------
# sbatch sends USR1 to this script ${o.signalSeconds ?? 300} s before the limit; SIGTERM makes every engine process
# finish its step, write ${LAST} and exit 130; the requeued job continues with --resume.
requeue() {
  REQUEUE_ASKED=1
  [ -n "\${SRUN_PID:-}" ] || return 0  # the signal came before srun started: handled right after it starts
  echo "heartseg: time limit near; asking the engine to checkpoint, then requeueing job $SLURM_JOB_ID"
  kill -TERM "$SRUN_PID" 2>/dev/null || true
  wait "$SRUN_PID" || true
  scontrol requeue "$SLURM_JOB_ID"
  rm -f "$CONFIG"
  exit 0
}
trap requeue USR1

# The engine's flags follow the module; torchrun's parser still reads them, so none may abbreviate one of its own
# (a bare --run would read as --run-path): the run folder is given as --run-dir.
srun --kill-on-bad-exit=1 "\${TORCHRUN[@]}" \\
  --nnodes=${o.nodes} --nproc-per-node=${o.gpusPerNode} \\
  --rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT" --rdzv-id="$SLURM_JOB_ID" \\
  -m heartseg train --config "$CONFIG" --run-dir "$TARGET" \${RESUME[@]+"\${RESUME[@]}"} &
SRUN_PID=$!
[ -z "\${REQUEUE_ASKED:-}" ] || requeue
set +e
wait "$SRUN_PID"
STATUS=$?
set -e
rm -f "$CONFIG"
exit "$STATUS"
`;
}
