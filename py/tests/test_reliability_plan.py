"""`plan` checks a dataset exactly like `train` (issue 13, items 6 and 7), and a patch that cannot work is refused
before anything is written.

Before: a label of another shape made `plan` end in "internal error: IndexError" (exit 1), and an undeclared label
value gave a plan (exit 0); `--patch` larger than every case trained on padding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import blob_case, make_dataset, write_nifti
from test_train_helpers import engine, tiny_config_dict, tiny_dataset


def problem_lines(stderr: str) -> list[str]:
    """The engine's one line, or the '  - ' lines under 'heartseg: N problems:'."""
    lines = [x for x in stderr.splitlines() if x.strip()]
    listed = [x[4:] for x in lines if x.startswith("  - ")]
    return sorted(listed or [x[len("heartseg: "):] for x in lines if x.startswith("heartseg: ")])


def other_shape(root: Path) -> str:
    """case_001's label gets one more slice than its image."""
    _, label = blob_case((12, 10, 9), seed=5)
    return str(write_nifti(root / "labelsTr" / "case_001.nii.gz", label))


def undeclared_three(root: Path) -> str:
    _, label = blob_case((12, 10, 8), labels=(1, 3), seed=6)
    return str(write_nifti(root / "labelsTr" / "case_002.nii.gz", label))


BREAKS = {"label of another shape": (other_shape, "image and label shapes differ: (12, 10, 8) vs (12, 10, 9)"),
          "undeclared label value 3": (undeclared_three, "label value 3 not declared in dataset.json")}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_plan_refuses_what_train_refuses_with_one_line_and_exit_2(tmp_path, name):
    root = make_dataset(tmp_path / "data", cases=4)
    breaker, message = BREAKS[name]
    bad_file = breaker(root)
    r = engine("plan", str(root), "--json", "--device", "cpu")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == "" and "Traceback" not in r.stderr and "internal error" not in r.stderr
    lines = problem_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"{bad_file}: {message}"), lines


def test_plan_lists_every_problem_and_train_lists_the_same_ones(tmp_path):
    root = make_dataset(tmp_path / "data", cases=4)
    for breaker, _ in BREAKS.values():
        breaker(root)
    plan = engine("plan", str(root), "--device", "cpu")
    assert plan.returncode == 2, plan.stderr
    assert "heartseg: 2 problems:" in plan.stderr
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(tiny_config_dict(root, tmp_path / "cache", epochs=1)), encoding="utf-8")
    run = tmp_path / "runs" / "x"
    train = engine("train", "--config", str(cfg), "--run", str(run))
    assert train.returncode == 2, train.stderr
    assert problem_lines(plan.stderr) == problem_lines(train.stderr)
    assert len(problem_lines(plan.stderr)) == 2
    assert not run.parent.exists()


def test_plan_still_plans_a_good_dataset(tmp_path):
    root = make_dataset(tmp_path / "data", cases=4)
    first = engine("plan", str(root), "--json", "--device", "cpu")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["config"]["data"]["patch"]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Four synthetic cases of 16 x 24 x 24 voxels (z, y, x) at 2 x 1.25 x 1.25 mm."""
    return tiny_dataset(tmp_path_factory.mktemp("small") / "data")


@pytest.mark.parametrize("patch,features,message,fits", [
    ([8, 8, 8], [4, 8, 16, 32], "data.patch: got [8, 8, 8], expected sizes >= 16 (2^4 for the 4 levels", None),
    ([32, 16, 16], [4, 8], "data.patch [32, 16, 16] is larger than every case along z: ", "16,16,16"),
    ([16, 32, 48], [4, 8], "data.patch [16, 32, 48] is larger than every case along y, x: ", "16,24,24"),
])
def test_a_patch_that_cannot_work_is_refused_before_the_run_folder_exists(small, tmp_path, patch, features, message,
                                                                          fits):
    data = tiny_config_dict(small, tmp_path / "cache", epochs=1)
    data["data"]["patch"], data["model"]["features"] = patch, features
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(data), encoding="utf-8")
    run = tmp_path / "runs" / "x"
    r = engine("train", "--config", str(cfg), "--run", str(run))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len([x for x in r.stderr.splitlines() if x.strip()]) == 1
    assert not run.parent.exists()
    if fits:
        assert "the largest is 16, 24, 24 voxels (z, y, x" in r.stderr and f"use --patch {fits} or smaller" in r.stderr


def test_a_patch_larger_than_every_case_is_refused_and_larger_than_some_is_padded_with_a_warning():
    """The planner sizes the patch from the median case (la2018 on a GPU: x 176 voxels, its smallest case 171), so a
    patch larger than only some cases must train (padded); larger than every case, with a smaller legal patch, not."""
    from types import SimpleNamespace

    from heartseg.errors import BadInput
    from heartseg.train.setup import check_patch_fits

    def prepared(metas):
        return SimpleNamespace(case_names=list(metas), spacing=[1.0, 1.0, 1.0],
                               meta=lambda n: SimpleNamespace(resampled_shape=metas[n]))

    metas = {"a": [40, 50, 60], "b": [20, 70, 30], "c": [64, 64, 64]}
    assert check_patch_fits([16, 48, 24], [4, 8, 16], prepared(metas), "/data") == []
    notes = check_patch_fits([32, 48, 32], [4, 8, 16], prepared(metas), "/data")
    assert notes == ["data.patch [32, 48, 32] is larger than the smallest case along z, x: b is 20, 70, 30 voxels "
                     "(z, y, x) at 1, 1, 1 mm; patches of it are padded"]
    with pytest.raises(BadInput) as e:
        check_patch_fits([72, 48, 32], [4, 8, 16], prepared(metas), "/data")
    text = str(e.value)
    assert "larger than every case along z: the largest is 64, 70, 64 voxels" in text
    assert "use --patch 64,48,32 or smaller" in text
    # no legal patch fits (5 levels need 32 voxels, the cases have 10): padding is the only way, so it trains
    tiny = {"t": [10, 10, 10]}
    assert "padded" in check_patch_fits([32, 32, 32], [4, 8, 16, 32, 64], prepared(tiny), "/data")[0]
    np.testing.assert_equal(metas["a"], [40, 50, 60])  # nothing mutated
