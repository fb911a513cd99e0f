"""Golden values: numbers the metrics gave once, which must not drift.

Run with FACEQA_UPDATE_GOLDEN=1 to rewrite ``expected/metric_values.json``
after a deliberate change (a new library version, a new definition), and
bump the metric's version in the registry with it.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from metrics import compute
from metrics.pooling import SequenceValue
from metrics.registry import CLIP, FACE, FACE_REGION, FULL_REFERENCE, all_metrics
from metrics.tests.clips import blurred, noisy

EXPECTED = Path(__file__).parent / "expected" / "metric_values.json"
UPDATE = os.environ.get("FACEQA_UPDATE_GOLDEN") == "1"
# Tolerances: float32 kernels across CPUs and BLAS builds; dlib's float embeddings
# and landmarks (and the face masks and poses made from them).
TOLERANCE = {FULL_REFERENCE: 1e-4, CLIP: 1e-4, FACE_REGION: 1e-3, FACE: 1e-3}
PLAIN_SPECS = [spec for spec in all_metrics().values() if not spec.weights]


def check_golden(key: str, values: dict[str, float], tolerances: dict[str, float]) -> None:
    stored = json.loads(EXPECTED.read_text()) if EXPECTED.is_file() else {}
    if UPDATE:
        stored[key] = values
        EXPECTED.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
        return
    assert key in stored, f"no golden values for {key}: run with FACEQA_UPDATE_GOLDEN=1"
    assert set(values) == set(stored[key]), f"{key}: the metrics changed; run with FACEQA_UPDATE_GOLDEN=1"
    for name, value in values.items():
        assert value == pytest.approx(stored[key][name], rel=tolerances[name], abs=1e-6), f"{key}: {name} drifted"


def sequence_values(specs, outcomes) -> dict[str, float]:
    values = {}
    for spec in specs:
        outcome = outcomes[spec.name]
        assert not isinstance(outcome, Exception), f"{spec.name}: {outcome}"
        values[spec.name] = outcome.value if isinstance(outcome, SequenceValue) else float(np.nanmean(outcome))
    return values


def test_full_reference_values_on_a_synthetic_pair(small_clip):
    frames = np.repeat(np.repeat(small_clip[0], 3, axis=1), 3, axis=2)  # 192x192: MS-SSIM needs 161
    specs = [spec for spec in PLAIN_SPECS if spec.kind in (FULL_REFERENCE, CLIP)]
    outcomes = compute.run_metrics(specs, noisy(frames, 6), frames, device=compute.default_device())
    check_golden("synthetic_noise_6", sequence_values(specs, outcomes),
                 {spec.name: TOLERANCE[spec.kind] for spec in specs})


def test_face_values_on_a_blurred_real_clip(face_clip, face_clip_faces):
    frames, _ = face_clip
    specs = [spec for spec in PLAIN_SPECS if spec.kind in (FACE, FACE_REGION)]
    outcomes = compute.run_metrics(specs, blurred(frames, sigma=2), frames, device=compute.default_device(),
                                   reference_faces=lambda: face_clip_faces)
    check_golden("fomm_demo_00_blur_2", sequence_values(specs, outcomes),
                 {spec.name: TOLERANCE[spec.kind] for spec in specs})
