"""scripts/gpu-check.sh --dry runs end to end on a CPU (tiny sizes): what CI checks of the GPU machines' script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_mode_end_to_end(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    env.pop("HEARTSEG_EVENT_FD", None)
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu-check.sh"), "--dry", "--seconds", "30"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "gpu-check.json").read_text())
    assert result["mode"] == "dry" and "error" not in result
    assert result["versions"]["torch"]
    variants = result["step"]["variants"]
    assert variants["fp32"]["ratio_vs_fp32"] == 1.0 and len(variants) == 4
    assert result["step"]["choice"]["reason"]
    assert result["loader"]["workers_0"] > 0 and result["loader"]["demand_patches_per_s"] > 0
    training = result["training"]
    assert training["first"]["exit"] == 130, training["first"]  # stopped with SIGTERM after a checkpoint
    assert training["resume"]["exit"] == 0, training["resume"]
    assert training["run_end"]["status"] == "completed" and training["last_lr"] == 0.0
    assert training["evaluate"]["exit"] == 0, training["evaluate"]
