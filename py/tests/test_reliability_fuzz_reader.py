"""Seeded fuzzing of the engine's NIfTI reader (heartseg.data.io): 10,000 mutated headers, bodies and gzip streams
each end in a 3-D volume or one Problem line, never another exception, and the whole run stays within 64 MiB of
Python allocations (a mutated header must not make the reader allocate what it claims)."""

from __future__ import annotations

import gzip
import random
import struct
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np

from heartseg.data import io as hio

CASES = 10_000
FILE_EVERY = 50  # every 50th case also goes through a real file (read_volume and read_header: the header-first paths)
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nifti-corpus"
MAX_SEED_BYTES = 256 * 1024


def _seeds() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    out = []
    for name, klass, dtype, shape, order in [("n1-int16", nib.Nifti1Image, np.int16, (6, 5, 4), "<"),
                                             ("n1-be-float32", nib.Nifti1Image, np.float32, (5, 4, 3), ">"),
                                             ("n2-uint8", nib.Nifti2Image, np.uint8, (7, 3, 2), "<"),
                                             ("n1-4d", nib.Nifti1Image, np.float64, (3, 3, 3, 2), "<")]:
        data = (rng.random(shape) * 100).astype(np.dtype(dtype).newbyteorder(order))
        img = klass(data, np.diag([1.5, 1.0, 2.0, 1.0]))
        if name == "n1-int16":
            img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment, to have an extension"))
        out.append((name, img.to_bytes()))
    if CORPUS.is_dir():
        for path in sorted(CORPUS.iterdir()):
            if path.name.endswith((".nii", ".nii.gz")):
                raw = path.read_bytes()
                raw = gzip.decompress(raw) if path.name.endswith(".gz") else raw
                if len(raw) <= MAX_SEED_BYTES:
                    out.append((path.name, raw))
    return out


def _pack(b: bytearray, fmt: str, at: int, value) -> None:
    if len(b) >= at + struct.calcsize(fmt):  # an earlier cut may have removed the field
        struct.pack_into(fmt, b, at, value)


def _mutate(rng: random.Random, raw: bytes) -> tuple[bytes, bool]:
    """(bytes, gzipped?) after one to three seeded mutations of the header, the body or the stream."""
    b = bytearray(raw)
    two = len(b) > 4 and struct.unpack("<i", bytes(b[:4]))[0] in (540, 469893120)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        if kind == 0:  # flip bytes in the header
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(min(len(b), 544))
                b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # a dimension, signed and possibly enormous
            at = (16 + 8 * rng.randint(0, 7), "<q") if two else (40 + 2 * rng.randint(0, 7), "<h")
            big = [2**31 - 1, 2**40, -(2**40)] if two else []
            _pack(b, at[1], at[0], rng.choice([0, -1, 1, 2, 3, 4, 7, 8, 255, 32767, -32768, *big]))
        elif kind == 2:  # the voxel offset
            value = rng.choice([0, 1, 351, 352, 353, 10**6, 2**31, 2**40, -5])
            if two:
                _pack(b, "<q", 168, value)
            else:
                _pack(b, "<f", 108, float(value))
        elif kind == 3:  # the datatype code
            _pack(b, "<h", 12 if two else 70, rng.choice([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 999, -1]))
        elif kind == 4:  # cut short
            del b[rng.randrange(len(b) + 1):]
        elif kind == 5:  # garbage after the end
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        else:  # the extension flag
            if len(b) > 348:
                b[348 if not two else 540 if len(b) > 540 else 348] = rng.randrange(256)
    gz = rng.random() < 0.5
    if not gz:
        return bytes(b), False
    stream = bytearray(gzip.compress(bytes(b), compresslevel=1))
    if rng.random() < 0.3:  # damage the stream itself
        if rng.random() < 0.5:
            del stream[rng.randrange(len(stream) + 1):]
        else:
            stream[rng.randrange(len(stream))] ^= 0xFF
    return bytes(stream), True


def _check(result, label: str) -> str:
    vol, problem = result
    assert (vol is None) != (problem is None), label
    if vol is not None:
        assert vol.data.ndim == 3, label
        return "volume"
    assert problem.message and "\n" not in problem.message, (label, problem.message)
    return "problem"


def test_ten_thousand_mutations_end_in_a_volume_or_one_problem_with_bounded_memory(tmp_path):
    seeds = _seeds()
    rng = random.Random(13)
    outcomes = {"volume": 0, "problem": 0}
    tracemalloc.start()
    try:
        for case in range(CASES):
            name, raw = seeds[case % len(seeds)]
            data, gz = _mutate(rng, raw)
            label = f"case {case} from {name}"
            path = tmp_path / ("f.nii.gz" if gz else "f.nii")
            outcomes[_check(hio.decode(path, data), label)] += 1
            if case % FILE_EVERY == 0:
                path.write_bytes(data)
                _check(hio.read_volume(path), label + " (file)")
                header, problem = hio.read_header(path)
                assert (header is None) != (problem is None), label
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(outcomes.values()) == CASES
    assert outcomes["volume"] > CASES // 20 and outcomes["problem"] > CASES // 4, outcomes  # both paths exercised
    assert peak < 64 * 1024**2, peak
