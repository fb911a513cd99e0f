"""The one pass over a clip pair: what it times, and the SRC's reference side kept across PVSs."""
import numpy as np
import torch

from metrics import compute, features
from metrics.kernels import clip as clip_kernels
from metrics.registry import get_metric
from metrics.tests.clips import blurred, noisy

CPU = torch.device("cpu")


def test_timings_hold_each_kernel_and_the_reference_faces(face_clip, face_clip_faces):
    frames = face_clip[0]
    specs = [get_metric(name) for name in ("psnr_rgb", "face_ssim", "tdiff", "akd")]
    timings = {}
    compute.run_metrics(specs, blurred(frames, 1.0), frames, device=CPU,
                        reference_faces=lambda: face_clip_faces, timings=timings)
    assert sorted(timings) == sorted([spec.name for spec in specs] + [compute.REFERENCE_FACES])
    assert all(0 < seconds < 30 for seconds in timings.values())


def test_a_failing_kernel_is_timed_too(face_clip):
    frames = face_clip[0][:3]
    timings = {}
    outcomes = compute.run_metrics([get_metric("akd")], frames, frames, device=CPU,
                                   reference_faces=lambda: (_ for _ in ()).throw(ValueError("no face")),
                                   timings=timings)
    assert isinstance(outcomes["akd"], ValueError) and compute.REFERENCE_FACES in timings


def test_the_clip_metrics_of_a_later_pvs_reuse_the_srcs_side_and_give_the_same_values(face_clip, monkeypatch):
    reference = face_clip[0][:8]
    specs = [get_metric(name) for name in ("psnr_yuv", "tdiff", "tof")]
    converted = []
    original = clip_kernels.rgb_to_yuv420p
    monkeypatch.setattr(clip_kernels, "rgb_to_yuv420p", lambda frames: converted.append(1) or original(frames))
    pvss = (noisy(reference, 3), blurred(reference, 1.5))
    cached = [compute.run_metrics(specs, distorted, reference, device=CPU, reference_key=("src", 1),
                                  feature_cache_bytes=1 << 30) for distorted in pvss]
    assert len(converted) == 3  # the SRC once, each PVS
    assert features.FEATURE_CACHE.misses == 3 and features.FEATURE_CACHE.hits == 3  # planes, luma change, flow
    uncached = [compute.run_metrics(specs, distorted, reference, device=CPU) for distorted in pvss]
    assert len(converted) == 7 and features.FEATURE_CACHE.size_bytes == 0  # a budget of 0 keeps nothing
    for kept, computed in zip(cached, uncached):
        for name in kept:
            np.testing.assert_array_equal(kept[name], computed[name])
