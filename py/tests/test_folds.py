"""Cross-validation folds (issue 15): names sorted, perm = default_rng(split_seed).permutation(n), and the case at
sorted index perm[i] is in fold i % K; data.fold picks one fold's cases for validation, 'all' trains on every case."""

from __future__ import annotations

import pytest

from heartseg import config as cfgmod
from heartseg.data import prepare
from heartseg.data.prepared import fold_of, fold_split
from heartseg.errors import BadInput
from tests.conftest import LA2018

LA = [f"la2018_{i:03d}" for i in range(20)]


@pytest.mark.parametrize("names, folds, seed, expected", [
    # default_rng(0).permutation(5) = [2, 4, 3, 0, 1]: c, e, d, a, b get folds 0, 1, 0, 1, 0
    (["a", "b", "c", "d", "e"], 2, 0, {"a": 1, "b": 0, "c": 0, "d": 0, "e": 1}),
    # default_rng(7).permutation(6) = [5, 2, 0, 4, 1, 3]
    ([f"c{i}" for i in range(6)], 3, 7, {"c5": 0, "c2": 1, "c0": 2, "c4": 0, "c1": 1, "c3": 2}),
    (["e", "d", "c", "b", "a"], 2, 0, {"a": 1, "b": 0, "c": 0, "d": 0, "e": 1}),  # input order does not matter
])
def test_fold_of_by_hand(names, folds, seed, expected):
    assert fold_of(names, folds, seed) == expected


def test_la2018_five_folds_seed_0():
    # default_rng(0).permutation(20) = [4, 19, 6, 2, 13, 16, 3, 11, 10, 8, 0, 12, 7, 5, 18, 17, 14, 9, 1, 15]
    expected = {0: [0, 4, 16, 17], 1: [3, 12, 14, 19], 2: [6, 7, 9, 11], 3: [1, 2, 5, 10], 4: [8, 13, 15, 18]}
    for fold, cases in expected.items():
        train, val = fold_split(LA, 5, fold, 0)
        assert val == [LA[i] for i in cases]
        assert train == [n for n in LA if n not in val]


def test_folds_partition_the_cases():
    vals = [fold_split(LA, 3, k, 5)[1] for k in range(3)]
    assert sorted(sum(vals, [])) == LA and sorted(len(v) for v in vals) == [6, 7, 7]
    assert fold_split(LA, 3, "all", 5) == (LA, [])


@pytest.mark.parametrize("folds, fold, match", [(1, 0, "folds"), (21, 0, "folds"), (5, 5, "fold"), (5, -1, "fold"),
                                                (5, "x", "fold")])
def test_bad_folds(folds, fold, match):
    with pytest.raises(ValueError, match=match):
        fold_split(LA, folds, fold, 0)


def test_la2018_folds_from_the_dataset(la2018):
    names = sorted(p.name.split(".nii")[0] for p in (LA2018 / "imagesTr").iterdir() if p.name.endswith(".nii.gz"))
    assert names == LA
    assert fold_split(names, 5, 0, 0)[1] == ["la2018_000", "la2018_004", "la2018_016", "la2018_017"]


def _cfg(root, tmp_path, **data):
    return cfgmod.from_dict({"data": {"root": str(root), "cache_dir": str(tmp_path / "cache"), **data}}).data


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    from heartseg.synth import write_dataset

    return write_dataset(tmp_path_factory.mktemp("folds") / "data", 5, 0, (8, 16, 16), (2.0, 2.0, 2.0))


def test_prepared_split_uses_the_fold(five, tmp_path):
    prepared = prepare(_cfg(five, tmp_path, folds=2, fold=1))
    names = [f"synth_{i:03d}" for i in range(5)]
    assert prepared.split() == fold_split(names, 2, 1, 0) == (["synth_001", "synth_002", "synth_003"],
                                                              ["synth_000", "synth_004"])
    assert prepare(_cfg(five, tmp_path, folds=2, fold="all")).split() == (names, [])
    # 'all' (train --all) trains on every case: more folds than cases does not matter to it
    assert prepare(_cfg(five, tmp_path, folds=6, fold="all")).split() == (names, [])


@pytest.mark.parametrize("data, message", [
    ({"folds": 2}, "data.folds is 2 but no fold is chosen"),
    ({"folds": 2, "fold": 0, "val_cases": ["synth_000"]}, "data.val_cases and data.folds both"),
    ({"folds": 6, "fold": 0}, r"data.folds is 6 but the dataset has 5 case\(s\)"),
])
def test_prepared_split_bad_folds(five, tmp_path, data, message):
    prepared = prepare(_cfg(five, tmp_path, **data))
    with pytest.raises(BadInput, match=message):
        prepared.split()
