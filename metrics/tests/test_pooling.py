"""Sequence pooling (pure) and re-pooling stored results."""
from fractions import Fraction

import numpy as np
import pytest
from django.core.management import call_command

from conftest import synthetic_frames
from metrics.models import MetricResult, MetricStatus
from metrics.pooling import PoolingError, pool, pooling_label
from metrics.registry import get_metric
from metrics.tests.factories import make_pvs


class TestPool:
    def test_mean_ignores_frames_without_a_value(self):
        assert pool(np.array([1.0, np.nan, 3.0]), "mean", higher_is_better=True) == 2.0

    def test_p5_follows_the_worst_frames_in_either_direction(self):
        values = np.arange(1.0, 101.0)  # 1..100
        assert pool(values, "p5", higher_is_better=True) == pytest.approx(np.percentile(values, 5))
        assert pool(values, "p5", higher_is_better=False) == pytest.approx(np.percentile(values, 95))

    def test_harmonic_is_vmafs_form(self):
        values = np.array([0.0, 1.0, 3.0])
        assert pool(values, "harmonic", higher_is_better=True) == pytest.approx(3 / (1 + 1 / 2 + 1 / 4) - 1)
        assert pool(np.full(4, 7.0), "harmonic", higher_is_better=True) == pytest.approx(7.0)

    @pytest.mark.parametrize(("values", "method", "message"), [
        ([1.0], "median", "unknown pooling"), ([np.nan], "mean", "no frame"), ([-2.0], "harmonic", "above -1"),
    ])
    def test_refusals(self, values, method, message):
        with pytest.raises(PoolingError, match=message):
            pool(np.array(values), method, higher_is_better=True)

    def test_label_says_the_frame_step(self):
        assert pooling_label("p5", get_metric("psnr_y")) == "p5"
        assert pooling_label("mean", get_metric("aed")) == "mean, every 5th frame"

    def test_a_fixed_pooling_is_the_label_whatever_is_chosen(self):
        assert pooling_label("p5", get_metric("ear_r")) == "Pearson r over frames"


@pytest.mark.django_db
def test_repool_changes_value_and_label_not_per_frame(data_dir):
    frames = synthetic_frames(t=5, size=32)
    pvs = make_pvs(data_dir, frames, frames, Fraction(25))
    result = MetricResult(pvs=pvs, metric="psnr_y", status=MetricStatus.OK, value=30.0, version="1", pooling="mean")
    result.per_frame = [20.0, 30.0, 30.0, 30.0, 40.0]
    result.save()
    call_command("compute_metrics", "--repool", "--pooling", "p5")
    result.refresh_from_db()
    assert result.pooling == "p5" and result.value == pytest.approx(np.percentile([20, 30, 30, 30, 40], 5))
    assert list(result.per_frame) == [20.0, 30.0, 30.0, 30.0, 40.0]


@pytest.mark.django_db
def test_repool_leaves_a_fixed_pooling_alone(data_dir):
    frames = synthetic_frames(t=5, size=32)
    pvs = make_pvs(data_dir, frames, frames, Fraction(25))
    result = MetricResult(pvs=pvs, metric="ear_r", status=MetricStatus.OK, value=0.9, version="1",
                          pooling="Pearson r over frames")
    result.per_frame = [0.0, 0.01, -0.02, 0.0, 0.0]
    result.save()
    call_command("compute_metrics", "--repool", "--pooling", "p5")
    result.refresh_from_db()
    assert result.value == 0.9 and result.pooling == "Pearson r over frames"
