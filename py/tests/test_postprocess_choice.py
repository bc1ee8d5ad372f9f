"""Post-processing chosen by cross-validation: the candidates, their Dice per case, the choice, cv/'s record."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from heartseg import layout
from heartseg.postprocess_choice import CANDIDATES, candidate_name, choose, cv_choice, trial_rows


def test_candidates_are_every_subset_fewest_steps_first():
    assert CANDIDATES == ((), ("largest",), ("fill_holes",), ("largest", "fill_holes"))
    assert [candidate_name(c) for c in CANDIDATES] == ["none", "largest", "fill_holes", "largest,fill_holes"]


def _case():
    """A 3x3x3 atrium predicted with a hole at its centre, plus a one-voxel speck far from it."""
    ref = np.zeros((12, 12, 12), np.uint8)
    ref[2:5, 2:5, 2:5] = 1
    probs = ref.astype(np.float32) * 0.9
    probs[3, 3, 3] = 0.2   # the hole
    probs[9, 9, 9] = 0.8   # the speck
    return probs, ref


# hand-counted: |ref| 27; none: 26 of 27 + speck; largest: 26; fill_holes: 27 + speck; both: exactly the cube
@pytest.mark.parametrize("steps, expected", [
    ("none", 2 * 26 / (27 + 27)),
    ("largest", 2 * 26 / (26 + 27)),
    ("fill_holes", 2 * 27 / (28 + 27)),
    ("largest,fill_holes", 1.0),
])
def test_trial_rows_score_each_candidate(steps, expected):
    probs, ref = _case()
    rows = trial_rows("a", probs, SimpleNamespace(threshold=0.5, postprocess=["largest"]), ref, [0, 1],
                      {0: "background", 1: "left atrium"})
    assert len(rows) == len(CANDIDATES)  # one foreground label, background is not scored
    row = next(r for r in rows if r["steps"] == steps)
    assert row["case"] == "a" and row["label"] == "left atrium"
    assert row["dice"] == pytest.approx(expected)


def test_trial_rows_use_the_threshold():
    probs, ref = _case()
    rows = trial_rows("a", probs, SimpleNamespace(threshold=0.85, postprocess=[]), ref, [0, 1], {1: "la"})
    assert next(r for r in rows if r["steps"] == "none")["dice"] == pytest.approx(2 * 26 / (26 + 27))  # no speck


def _rows(**means):
    return [{"case": c, "label": "la", "steps": name.replace("_and_", ","), "dice": d}
            for name, (d0, d1) in means.items() for c, d in (("a", d0), ("b", d1))]


@pytest.mark.parametrize("rows, chosen", [
    (_rows(none=(0.8, 0.8), largest=(0.9, 0.8), fill_holes=(0.8, 0.8), largest_and_fill_holes=(0.8, 0.9)),
     ["largest"]),                                    # a tie at the best mean: the fewer steps
    (_rows(none=(0.8, 0.8), largest=(0.8, 0.8), fill_holes=(0.8, 0.8), largest_and_fill_holes=(0.8, 0.8)),
     []),                                             # no step helps: none
    (_rows(none=(0.8, 0.8), largest=(0.81, 0.8), fill_holes=(0.8, 0.82), largest_and_fill_holes=(0.82, 0.82)),
     ["largest", "fill_holes"]),
    (_rows(none=(0.9, 0.9), fill_holes=(0.5, 0.5)), []),  # only some candidates tried
])
def test_choose_the_best_mean_dice(rows, chosen):
    steps, means = choose(rows)
    assert steps == chosen
    assert means["none"] == pytest.approx(float(np.mean([r["dice"] for r in rows if r["steps"] == "none"])))


@pytest.mark.parametrize("rows, message", [
    ([], "no post-processing trial rows"),
    ([{"case": "a", "label": "la", "steps": "dilate", "dice": 1.0}], "name no known candidate"),
])
def test_choose_bad_rows(rows, message):
    with pytest.raises(ValueError, match=message):
        choose(rows)


@pytest.mark.parametrize("doc, expected", [
    (None, None),                                                     # no cv/ yet
    ("not json", None),
    ({"summary": {}}, None),                                          # written before the choice existed
    ({"postprocess": {"chosen": ["largest"]}}, ["largest"]),
    ({"postprocess": {"chosen": []}}, []),
    ({"postprocess": {"chosen": ["dilate"]}}, None),                  # not a step this version knows
    ({"postprocess": {"chosen": "largest"}}, None),
])
def test_cv_choice(tmp_path, doc, expected):
    if doc is not None:
        (tmp_path / layout.CV).mkdir()
        (tmp_path / layout.CV_SUMMARY).write_text(doc if isinstance(doc, str) else json.dumps(doc))
    assert cv_choice(tmp_path) == expected
