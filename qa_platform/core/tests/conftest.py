"""Fixtures of the core app's tests."""
from fractions import Fraction

import pytest

from conftest import synthetic_frames
from qa_platform.codec import video
from qa_platform.core.models import Source


@pytest.fixture
def source(data_dir) -> Source:
    frames = synthetic_frames(t=25, size=64)
    video.write_lossless(data_dir / "sources" / "synthetic" / "src.mkv", frames, Fraction(25))
    return Source.objects.create(
        name="synthetic", origin_path="/dev/null", origin_sha256="0" * 64, size=64,
        fps_num=25, max_frames=25, frame_count=25, crop_x=0, crop_y=0, crop_size=64,
        lossless_path="sources/synthetic/src.mkv", browser_path="sources/synthetic/src.mp4",
    )
