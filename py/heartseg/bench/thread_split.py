"""How to split a CPU's cores between the training step (torch threads) and patch-sampling workers.

Each split trains the `cpu` preset's model (its patch, batch, default augmentation) for a few steps with
Trainer.train_step fed by data.make_train_loader; splits take turns in rounds so load from other work falls on all
alike, and the median seconds per step of each is compared with the first split (the baseline) of the same run.

    python -m heartseg.bench.thread_split DATA [--splits 2/0,1/1,1/0] [--steps 4] [--rounds 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--splits", default="2/0,1/1,1/0", help="THREADS/WORKERS pairs; the first is the baseline")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--max-cases", type=int, default=4)
    p.add_argument("--layout", default="channels_last")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    import torch

    from heartseg import config as cfgmod
    from heartseg import data, presets
    from heartseg.train.loop import Trainer
    from heartseg.train.batch import unpack

    splits = [tuple(int(v) for v in s.split("/")) for s in args.splits.split(",")]
    raw = cfgmod.merge(presets.load("cpu"), {"data": {"root": args.data, "max_cases": args.max_cases},
                                             "train": {"precision": "fp32", "layout": args.layout, "device": "cpu"}})
    raw.pop("_comment", None)
    cfg = cfgmod.from_dict(raw)
    prepared = data.prepare(cfg.data)
    names = prepared.split()[0]
    sampler = data.PatchSampler(prepared, names, cfg.data, cfg.augment, 0)
    trainer = Trainer(cfg, in_channels=1, out_channels=1)
    trainer.start()
    seconds: dict[str, list[float]] = {f"{t}/{w}": [] for t, w in splits}
    step = 0
    for _ in range(args.rounds):
        for threads, workers in splits:
            torch.set_num_threads(threads)
            stream = iter(data.make_train_loader(sampler, step, args.steps + 1, workers))
            image, label = unpack(next(stream))
            trainer.train_step(image, label)  # warm: workers started, buffers allocated
            tick = time.perf_counter()
            for batch in stream:
                image, label = unpack(batch)
                trainer.train_step(image, label)
            seconds[f"{threads}/{workers}"].append((time.perf_counter() - tick) / args.steps)
            step += args.steps + 1
            del stream
    base_key = f"{splits[0][0]}/{splits[0][1]}"
    base = statistics.median(seconds[base_key])
    result: dict[str, Any] = {"baseline": base_key, "model": cfg.model.features, "patch": cfg.data.patch,
                              "batch": cfg.data.batch, "steps": args.steps, "rounds": args.rounds, "splits": {}}
    for key, values in seconds.items():
        med = statistics.median(values)
        result["splits"][key] = {"threads": int(key.split("/")[0]), "workers": int(key.split("/")[1]),
                                 "seconds_per_step": round(med, 3), "every_round": [round(v, 3) for v in values],
                                 "ratio_vs_baseline": round(base / med, 3)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
