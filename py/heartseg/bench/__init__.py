"""Benchmark harness: each line measures ours and a baseline in the same run, each side in its own process.

Lines (module per line): data_sampling, train_step, inference, analyze, time_to_dice, time_to_dice_la2018 (run only
when named: it trains for up to 40 minutes). Support: runner (timing,
peak RSS, child processes), child (a side's entry point), machine (what it ran on), cost (U-Net FLOPs and
memory), results (results.json and the table), datasets (la2018 or synthetic data), suite (runs the lines).
"""

LINES = ("data_sampling", "train_step", "inference", "analyze", "time_to_dice", "time_to_dice_la2018")
ON_REQUEST = ("time_to_dice_la2018",)
"""Lines a plain `bench` leaves out; `--lines` names them."""
