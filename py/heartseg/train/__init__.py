"""Training: the loop (loop.py), optimisers and schedules, TensorBoard, signals, run folders, distributed."""
