"""Fixtures of the metrics tests: an empty torch hub, stand-in weights, a real face clip."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from conftest import FACES_DIR
from metrics import features
from metrics.kernels.face import ReferenceFaces, reference_faces
from metrics.registry import get_metric
from qa_platform.codec.video import read_frames

FACE_CLIP = "fomm_demo_00.mp4"  # 256x256, a frontal talking head
FACE_CLIP_FRAMES = 20


@pytest.fixture(autouse=True)
def empty_reference_cache():
    """The process-wide reference cache (metrics.features) starts and ends each test empty."""
    features.FEATURE_CACHE.clear()
    yield
    features.FEATURE_CACHE.clear()


@pytest.fixture(autouse=True)
def empty_torch_home(tmp_path, monkeypatch) -> Path:
    """Point TORCH_HOME at an empty folder: no weight is installed unless a test installs it."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def stand_in_weights_dir(tmp_path_factory) -> Path:
    """A TORCH_HOME whose weight files have the right layout but meaningless
    values (zeros): enough to run LPIPS and DISTS without their real weights,
    never enough to trust a value they give."""
    home = tmp_path_factory.mktemp("stand_in_torch")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    with torch.device("meta"):
        backbones = {"alexnet-owt-7be5be79.pth": torchvision.models.alexnet(),
                     "vgg16-397923af.pth": torchvision.models.vgg16()}
    for filename, model in backbones.items():
        torch.save({k: torch.zeros(v.shape) for k, v in model.state_dict().items()}, checkpoints / filename)
    channels = 3 + 64 + 128 + 256 + 512 + 512  # piq.DISTS: the input and five VGG16 stages
    alpha_beta = torch.full((1, channels, 1, 1), 0.1)
    torch.save({"alpha": alpha_beta, "beta": alpha_beta}, checkpoints / "dists_weights.pt")
    return home


@pytest.fixture
def stand_in_weights(stand_in_weights_dir, monkeypatch) -> Path:
    """Install the stand-in weights for this test (TORCH_HOME points at them)."""
    monkeypatch.setenv("TORCH_HOME", str(stand_in_weights_dir))
    return stand_in_weights_dir


@pytest.fixture
def no_downloads(monkeypatch):
    """Make any attempt of torch hub to download a file fail the test."""
    def refuse(url, *args, **kwargs):
        raise AssertionError(f"attempted to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture(scope="session")
def face_clip() -> tuple[np.ndarray, Fraction]:
    """(frames uint8 (20, 256, 256, 3) read-only, fps) of a real talking head; skipped without ../shared/faces."""
    path = FACES_DIR / FACE_CLIP
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    frames, fps = read_frames(path, max_frames=FACE_CLIP_FRAMES)
    frames.setflags(write=False)
    return frames, fps


@pytest.fixture(scope="session")
def face_clip_faces(face_clip) -> ReferenceFaces:
    """The face clip's reference faces (AED on every 5th frame)."""
    return reference_faces(face_clip[0], get_metric("aed").frame_step)
