#!/usr/bin/env bash
# One check of the GPU path, run from the repository root on a machine with a GPU (<= 8 minutes):
# versions, the training step in fp32/bf16 x contiguous/channels_last_3d (+ torch.compile) with MFU, loader
# patches/s vs what the step consumes, a 60-second `--preset gpu` training stopped with SIGTERM, resumed and
# evaluated. Writes gpu-check.json (or $OUT/gpu-check.json when $OUT is set).
#
#   scripts/gpu-check.sh [--dry] [--data DIR] [--seconds S]
#
# --dry: tiny sizes on whatever device there is (CI runs it on a CPU). Offline machines: engine packages that are
# missing (nibabel, monai) install from wheels in $HEARTSEG_WHEELS (default ./wheels, fetched beforehand with
# `pip download -d wheels nibabel monai --python-version 3.12 --only-binary=:all:`); la2018 comes from --data or
# $HEARTSEG_LA2018 (default ./data/la2018 when present, else a synthetic set).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$HOME/.local/share/heartseg/venv/bin/python" ]; then PY="$HOME/.local/share/heartseg/venv/bin/python"; else PY=python3; fi
fi
WHEELS="${HEARTSEG_WHEELS:-wheels}"
if ! "$PY" -c "import nibabel" 2>/dev/null && [ -d "$WHEELS" ]; then
  "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" nibabel monai || echo "gpu-check: could not install from $WHEELS" >&2
fi
ARGS=("$@")
DATA="${HEARTSEG_LA2018:-data/la2018}"
if [[ " $* " != *" --data "* && " $* " != *" --dry "* && -f "$DATA/dataset.json" ]]; then ARGS+=(--data "$DATA"); fi
OUTFILE="${OUT:+$OUT/}gpu-check.json"
PYTHONPATH=py exec "$PY" -m heartseg.bench.gpu_check --out "$OUTFILE" "${ARGS[@]}"
