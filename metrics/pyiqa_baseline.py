"""Time pyiqa the straightforward way: per frame, one metric at a time.

Run by ``benchmark_metrics --pyiqa-python PYTHON`` with the Python of a
separate environment where pyiqa is installed (it pins its own dependencies,
so it does not share FaceQA's). Standalone: imports numpy, torch and pyiqa
only. Only metrics that need no downloaded weights are accepted.

Usage: PYTHON pyiqa_baseline.py DISTORTED.npy REFERENCE.npy NAME[,NAME...]
with uint8 clips (T, H, W, 3) RGB; prints one JSON object: pyiqa version,
frames, and wall seconds per metric (model built outside the timing).
"""
import json
import sys
import time

import numpy as np
import pyiqa
import torch

NO_WEIGHTS = {"psnr", "psnry", "ssim", "ms_ssim", "fsim", "gmsd", "vif"}


def frame_tensor(frame: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) → float32 (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0


def seconds_per_metric(distorted: np.ndarray, reference: np.ndarray, names: list[str]) -> dict[str, float]:
    timings = {}
    for name in names:
        metric = pyiqa.create_metric(name, device="cpu")
        metric(frame_tensor(distorted[0]), frame_tensor(reference[0]))  # warm-up
        start = time.perf_counter()
        with torch.no_grad():
            for d, r in zip(distorted, reference):
                metric(frame_tensor(d), frame_tensor(r))
        timings[name] = time.perf_counter() - start
    return timings


def main() -> None:
    distorted_path, reference_path, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    unknown = sorted(set(names) - NO_WEIGHTS)
    if unknown:
        sys.exit(f"not timed (need downloaded weights or unknown): {', '.join(unknown)}")
    distorted, reference = np.load(distorted_path), np.load(reference_path)
    print(json.dumps({"pyiqa": pyiqa.__version__, "frames": len(distorted),
                      "seconds": seconds_per_metric(distorted, reference, names)}))


if __name__ == "__main__":
    main()
