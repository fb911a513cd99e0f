"""Tiny synthetic training clips and a tiny trained keypoint-anim checkpoint, shared by the training tests."""
import cv2
import numpy as np
import pytest

from qa_platform.codec.fomm import FommConfig
from training.fomm_training import TrainingClip, TrainingOptions, train_fomm

TINY = FommConfig(size=64, num_kp=4)


def blob_clip(frames: int = 16, size: int = 64, seed: int = 0) -> np.ndarray:
    """A skin-coloured disc circling over a smooth random background: uint8 (T, size, size, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    background = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (size, size),
                            interpolation=cv2.INTER_CUBIC).astype(np.float64)
    out = np.empty((frames, size, size, 3), dtype=np.uint8)
    for t in range(frames):
        cx, cy = 0.5 + 0.2 * np.cos(t / 3), 0.5 + 0.15 * np.sin(t / 3)
        disc = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.02)[..., None]
        out[t] = np.clip(background * (1 - disc) + disc * np.array([230, 180, 150]), 0, 255)
    return out


@pytest.fixture
def clip() -> TrainingClip:
    return TrainingClip("blob", "0" * 64, blob_clip())


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A keypoint-anim checkpoint trained for 8 steps at 64 px, 4 keypoints: (root folder, SavedCheckpoint)."""
    root = tmp_path_factory.mktemp("checkpoints")
    saved = train_fomm(clips=[TrainingClip("blob", "0" * 64, blob_clip())], config=TINY,
                       options=TrainingOptions(epochs=2, batch_size=4), folder=root / "keypoint-anim")
    return root, saved
